"""`AsyncHttpDriver` and `SyncHttpDriver`: an `AbstractDriver` with an HTTP client from
``open()`` to ``close()``.

Subclass one, implement the contract's required methods, and use ``self.http`` in `handle`:

* `http_base_url()` and `http_headers()` read the configuration (base URL, auth header);
* `status_errors` changes single rows of the status table (``{410: ConfigurationError}``);
* `classify_response()` decides from a response's body (return ``self.http.error(...)``);
* `http_options()` passes anything else to httpx (``auth``, ``verify``, limits).

Injecting a fake downstream: the runtime builds drivers with no arguments, so a test sets
`http_transport` on the instance before the driver is opened, e.g. in the contract suite's
``driver`` fixture::

    driver = MyDriver()
    driver.http_transport = httpx.MockTransport(handler)   # or httpx.ASGITransport(app)
    return driver

or points the configuration's base URL at a local server (``driver_config`` fixture). The
runtime never sets `http_transport`, so production traffic always uses httpx's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from contracts import AbstractDriver, IntegrationError, secret_values
from driverkit.client import DEFAULT_TIMEOUT_S, AsyncHttpClient, StatusErrors, SyncHttpClient

__all__ = ["AsyncHttpDriver", "SyncHttpDriver"]


class _HttpDriverOptions(AbstractDriver):
    """The hooks both drivers share; override what the downstream needs."""

    status_errors: ClassVar[StatusErrors] = {}
    """Per-status overrides of `driverkit.status`'s table; None marks a status as success."""
    http_timeout_s: ClassVar[float] = DEFAULT_TIMEOUT_S
    """The longest a request may take (a call's deadline shortens it)."""

    def http_base_url(self) -> str:
        """The base URL relative request URLs are joined to (e.g. ``self.config.base_url``)."""
        return ""

    def http_headers(self) -> Mapping[str, str]:
        """Headers sent with every request (e.g. ``Authorization``); never quoted in errors."""
        return {}

    def http_options(self) -> Mapping[str, Any]:
        """Further keyword arguments for the httpx client (``auth``, ``verify``, ``limits``)."""
        return {}

    def classify_response(self, response: httpx.Response) -> IntegrationError | None:
        """The error a response means, or None to let the status tables decide.

        Runs for every response whose status the request does not ``accept``, before the
        tables; e.g. ``return self.http.error(TransientError, response)`` for a 400 whose
        body reports a deadlock.
        """
        return None

    def _secrets(self) -> list[str]:
        return secret_values(self.config) if isinstance(self.config, BaseModel) else []


class AsyncHttpDriver(_HttpDriverOptions):
    """An ``async`` driver with an `AsyncHttpClient` in `http` between ``open()`` and
    ``close()`` (both ``async``; call ``await super().open()`` first if you override it)."""

    http_transport: httpx.AsyncBaseTransport | None = None
    """A transport for tests (see the module docstring); None in production."""
    _http: AsyncHttpClient | None = None

    async def open(self) -> None:
        self._http = AsyncHttpClient(
            base_url=self.http_base_url(),
            headers=self.http_headers(),
            transport=self.http_transport,
            timeout_s=self.http_timeout_s,
            status_errors=self.status_errors,
            classify=self.classify_response,
            secrets=self._secrets(),
            **self.http_options(),
        )

    async def close(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    @property
    def http(self) -> AsyncHttpClient:
        """The client (from ``open()`` to ``close()``)."""
        if self._http is None:
            raise RuntimeError(f"{type(self).__name__}: the HTTP client exists once open() ran")
        return self._http


class SyncHttpDriver(_HttpDriverOptions):
    """A sync driver with a `SyncHttpClient` in `http` between ``open()`` and ``close()``.

    The runtime calls a sync driver from several worker threads at once (for different
    entities); the client is safe to share between them.
    """

    http_transport: httpx.BaseTransport | None = None
    """A transport for tests (see the module docstring); None in production."""
    _http: SyncHttpClient | None = None

    def open(self) -> None:
        self._http = SyncHttpClient(
            base_url=self.http_base_url(),
            headers=self.http_headers(),
            transport=self.http_transport,
            timeout_s=self.http_timeout_s,
            status_errors=self.status_errors,
            classify=self.classify_response,
            secrets=self._secrets(),
            **self.http_options(),
        )

    def close(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            http.close()

    @property
    def http(self) -> SyncHttpClient:
        """The client (from ``open()`` to ``close()``)."""
        if self._http is None:
            raise RuntimeError(f"{type(self).__name__}: the HTTP client exists once open() ran")
        return self._http
