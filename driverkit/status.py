"""HTTP status → contract error: the default table, pure (no I/O, no httpx).

=====================================  =============================================
status                                 error (what the runtime does)
=====================================  =============================================
2xx                                    none: success
408, 425, 429, 5xx                     `TransientError` (retried with backoff); with a
                                       ``Retry-After`` header, or for 429 always,
                                       `RateLimitedError` carrying ``retry_after``
401, 403                               `AuthenticationError`, a `ConfigurationError`
                                       (fatal: the integration stops)
any other 4xx                          `PermanentError` (dead-lettered, not retried)
1xx, 3xx reaching the driver           `PermanentError` (an unfollowed redirect)
=====================================  =============================================

Drivers change single rows with a status table (``{410: ConfigurationError}``) or decide
from the body with a hook; see `driverkit.client`.
"""

from __future__ import annotations

from contracts import IntegrationError, PermanentError, RateLimitedError, TransientError
from contracts.classification import TRANSIENT_HTTP_STATUSES, FailureKind, http_status_kind
from driverkit.errors import AuthenticationError

__all__ = ["TRANSIENT_STATUSES", "default_error_class", "make_error"]

TRANSIENT_STATUSES = TRANSIENT_HTTP_STATUSES
"""4xx statuses that mean "try again later" (Request Timeout, Too Early, Too Many Requests)."""


def default_error_class(status: int) -> type[IntegrationError] | None:
    """The error class for `status` by the table above (the kinds are the contract's
    `http_status_kind`, which the runtime applies to a raw `httpx.HTTPStatusError` too);
    None for success."""
    kind = http_status_kind(status)
    if kind is None:
        return None
    if kind is FailureKind.TRANSIENT:
        return RateLimitedError if status == 429 else TransientError
    if kind is FailureKind.FATAL:
        return AuthenticationError
    return PermanentError


def make_error(
    error_class: type[IntegrationError], message: str, retry_after: float | None = None
) -> IntegrationError:
    """An instance of `error_class`; a plain `TransientError` with a ``Retry-After`` hint
    becomes a `RateLimitedError`, so the runtime waits as long as the downstream asked."""
    if issubclass(error_class, RateLimitedError):
        return error_class(message, retry_after=retry_after)
    if error_class is TransientError and retry_after is not None:
        return RateLimitedError(message, retry_after=retry_after)
    return error_class(message)
