"""The one error class driverkit adds to the contract's hierarchy."""

from __future__ import annotations

from contracts import ConfigurationError

__all__ = ["AuthenticationError"]


class AuthenticationError(ConfigurationError):
    """The downstream refused the integration's credentials (HTTP 401 or 403).

    A `ConfigurationError`, so fatal: every further record would fail the same way, so the
    runtime stops the integration (nothing more is committed) until an operator fixes the
    credentials, instead of dead-lettering the whole stream.
    """
