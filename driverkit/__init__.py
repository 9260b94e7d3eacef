"""A small HTTP toolkit for drivers: client lifecycle, status → contract errors, Retry-After,
deadline-aware timeouts and secret-safe error excerpts.

It ships in the connector's wheel and imports only `contracts` and httpx (never `connector`),
so third-party drivers may use it too. The common case::

    from driverkit import AsyncHttpDriver

    class MyDriver(AsyncHttpDriver):
        status_errors = {410: ConfigurationError}     # optional: change single statuses

        def http_base_url(self) -> str:
            return self.config.base_url

        async def handle(self, mutation):
            response = await self.http.post("/items", json=mutation.payload)
            ...  # 2xx only here; everything else was raised as the right contract error

`driverkit.status` has the status table, `driverkit.client` the request steps and
`driverkit.driver` how tests inject a transport into a driver built with no arguments.
"""

from driverkit.client import (
    DEFAULT_TIMEOUT_S,
    AsyncHttpClient,
    ResponseHook,
    StatusErrors,
    SyncHttpClient,
    safe_url,
)
from driverkit.driver import AsyncHttpDriver, SyncHttpDriver
from driverkit.errors import AuthenticationError
from driverkit.excerpt import body_excerpt
from driverkit.retry_after import parse_retry_after
from driverkit.status import TRANSIENT_STATUSES, default_error_class, make_error

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "TRANSIENT_STATUSES",
    "AsyncHttpClient",
    "AsyncHttpDriver",
    "AuthenticationError",
    "ResponseHook",
    "StatusErrors",
    "SyncHttpClient",
    "SyncHttpDriver",
    "body_excerpt",
    "default_error_class",
    "make_error",
    "parse_retry_after",
    "safe_url",
]
