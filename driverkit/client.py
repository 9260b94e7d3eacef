"""`AsyncHttpClient` and `SyncHttpClient`: httpx clients that speak the contract's errors.

A request through either client:

1. Gets a timeout below the driver call's deadline (`contracts.current_deadline()`, set by
   the runtime around every `handle`/`handle_batch`), capped at the client's `timeout_s`;
   with no time left it is not sent at all (`TransientError`). The async client also bounds
   the whole exchange, not only each phase.
2. Is sent; a timeout or a connection failure becomes `TransientError`, a URL the client
   cannot use or a request it cannot build (a header value with a line break)
   `ConfigurationError`, too many redirects or an undecodable body `PermanentError`. The
   message names the method and the URL without its query string, never a header's value.
3. Has its response classified: statuses in ``accept`` are success; then the ``classify``
   hook may return an error (e.g. a 400 whose body says "deadlock" → `TransientError`);
   then the ``status_errors`` table (``{410: ConfigurationError, 404: None}``; None means
   success); then the default table of `driverkit.status`. An error's message quotes a
   bounded excerpt of the body with secrets replaced (`driverkit.excerpt`), never a request
   header, and a ``Retry-After`` header becomes ``retry_after`` on `RateLimitedError`.

Inject a transport for tests (``httpx.MockTransport``) or point `base_url` at a local
server; see `driverkit.driver` for how a driver built with no arguments gets them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Mapping
from types import TracebackType
from typing import Any, Self

import httpx

from contracts import (
    ConfigurationError,
    IntegrationError,
    PermanentError,
    TransientError,
    current_deadline,
)
from contracts.secrecy import is_secret_name
from driverkit.errors import AuthenticationError
from driverkit.excerpt import DEFAULT_EXCERPT_CHARS, body_excerpt
from driverkit.retry_after import parse_retry_after
from driverkit.status import default_error_class, make_error

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "AsyncHttpClient",
    "ResponseHook",
    "StatusErrors",
    "SyncHttpClient",
    "safe_url",
]

DEFAULT_TIMEOUT_S = 30.0
ResponseHook = Callable[[httpx.Response], IntegrationError | None]
"""Looks at a response first: returns the error to raise, or None to let the tables decide."""
StatusErrors = Mapping[int, type[IntegrationError] | None]
"""Per-status overrides of the default table; None marks a status as success."""

_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_MAX_MARGIN_S = 1.0
_MAX_DETAIL_CHARS = 200


def safe_url(url: httpx.URL) -> str:
    """`url` without credentials, query string or fragment (they may hold secrets)."""
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def _credential_values(headers: httpx.Headers) -> list[str]:
    return [
        value
        for name, value in headers.items()
        if name.lower() in _CREDENTIAL_HEADERS or is_secret_name(name)
    ] + [
        # "Bearer abc" / "Basic abc": the credential alone, too
        value.split(" ", 1)[1]
        for name, value in headers.items()
        if name.lower() in _CREDENTIAL_HEADERS and " " in value
    ]


class _HttpClientBase:
    """Timeouts, classification and error messages, shared by both clients."""

    def __init__(
        self,
        *,
        timeout_s: float,
        status_errors: StatusErrors | None,
        classify: ResponseHook | None,
        secrets: Iterable[str],
        excerpt_chars: int,
    ) -> None:
        self.timeout_s = timeout_s
        self.status_errors: StatusErrors = dict(status_errors or {})
        self.classify = classify
        self.secrets = tuple(secrets)
        self.excerpt_chars = excerpt_chars

    def _base_url(self) -> httpx.URL:
        raise NotImplementedError

    def _where(self, method: str, url: str) -> str:
        """``METHOD url`` for messages, the URL joined to the base and made `safe_url`
        (computed only for a failure: joining costs as much as a third of a request)."""
        try:
            return f"{method} {safe_url(self._base_url().join(url))}"
        except httpx.InvalidURL:
            return f"{method} <unusable URL>"

    # 1. the timeout below the call's deadline
    def _budget(self, method: str, url: str, timeout_s: float | None) -> float:
        cap = self.timeout_s if timeout_s is None else min(timeout_s, self.timeout_s)
        deadline = current_deadline()
        if deadline is None:
            return cap
        margin = min(_MAX_MARGIN_S, deadline.timeout_s * 0.05)
        if deadline.remaining() <= margin:
            raise TransientError(
                f"{self._where(method, url)}: not sent, the call's deadline "
                f"({deadline.timeout_s:g}s) has passed"
            )
        return deadline.timeout(cap, margin_s=margin)

    # 2. failures to get a response
    def _transport_error(
        self, exc: Exception, method: str, url: str, budget: float
    ) -> IntegrationError:
        where = self._where(method, url)
        kind = type(exc).__name__
        if isinstance(exc, httpx.TimeoutException | TimeoutError):
            return TransientError(f"{where}: no response within {budget:.3g}s ({kind})")
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return ConfigurationError(f"{where}: unusable URL ({kind})")
        if isinstance(exc, httpx.LocalProtocolError):
            # e.g. a header value with a line break (a token read with its newline): every
            # request would fail alike, and httpx's message quotes the header's value.
            return ConfigurationError(
                f"{where}: the request could not be built (a header or the body is invalid, "
                f"{kind}): check the configuration"
            )
        if isinstance(exc, httpx.TooManyRedirects | httpx.DecodingError):
            return PermanentError(f"{where}: {kind}: {str(exc)[:_MAX_DETAIL_CHARS]}")
        return TransientError(f"{where}: {kind}: {str(exc)[:_MAX_DETAIL_CHARS]}")

    # 3. the response
    def _check(self, response: httpx.Response, accept: Collection[int]) -> None:
        status = response.status_code
        if status in accept:
            return
        if self.classify is not None:
            error = self.classify(response)
            if error is not None:
                raise error
        if status in self.status_errors:
            error_class = self.status_errors[status]
        else:
            error_class = default_error_class(status)
        if error_class is not None:
            raise self.error(error_class, response)

    def error(
        self,
        error_class: type[IntegrationError],
        response: httpx.Response,
        detail: str | None = None,
    ) -> IntegrationError:
        """An `error_class` for `response`, with the standard message: method, URL without
        query, status, then `detail` or a bounded excerpt of the body with secrets replaced.
        For classification hooks: ``return client.error(TransientError, response)``."""
        request = response.request
        excerpt = detail if detail is not None else self.excerpt(response)
        message = (
            f"{request.method} {safe_url(request.url)}: "
            f"HTTP {response.status_code} {response.reason_phrase}: {excerpt}"
        )
        if issubclass(error_class, AuthenticationError):
            message += " (the downstream refused the credentials: check the configuration)"
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return make_error(error_class, message, retry_after)

    def excerpt(self, response: httpx.Response) -> str:
        """A bounded excerpt of the body with known secrets (configuration secrets, values
        of the request's credential headers) replaced."""
        secrets = (*self.secrets, *_credential_values(response.request.headers))
        return body_excerpt(response.content, secrets, self.excerpt_chars)

    def json(self, response: httpx.Response) -> Any:
        """The body as JSON; a body that is not JSON is a `PermanentError` quoting it."""
        try:
            return response.json()
        except ValueError:
            raise self.error(
                PermanentError, response, f"the body is not JSON: {self.excerpt(response)}"
            ) from None


class AsyncHttpClient(_HttpClientBase):
    """An `httpx.AsyncClient` whose requests follow the numbered steps of the module docstring.

    Build it in an async driver's ``open()`` and close it (`aclose`) in ``close()``; it lives
    on the event loop that built it. Options not named here (``auth``, ``verify``, limits,
    ``follow_redirects``, …) go to `httpx.AsyncClient` through `client_options`.
    """

    def __init__(
        self,
        *,
        base_url: str = "",
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        status_errors: StatusErrors | None = None,
        classify: ResponseHook | None = None,
        secrets: Iterable[str] = (),
        excerpt_chars: int = DEFAULT_EXCERPT_CHARS,
        **client_options: Any,
    ) -> None:
        super().__init__(
            timeout_s=timeout_s,
            status_errors=status_errors,
            classify=classify,
            secrets=secrets,
            excerpt_chars=excerpt_chars,
        )
        self.client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            transport=transport,
            timeout=timeout_s,
            **client_options,
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        accept: Collection[int] = (),
        timeout_s: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request; return the response if it is a success, else raise its error.

        `accept` lists statuses to treat as success for this request (``accept=(404,)`` on a
        delete); `timeout_s` caps this request's timeout below the client's; the rest goes
        to `httpx.AsyncClient.request` (``json=``, ``content=``, ``headers=``, ``params=``).
        """
        budget = self._budget(method, url, timeout_s)  # 1.
        try:  # 2.
            async with asyncio.timeout(budget):
                response = await self.client.request(method, url, timeout=budget, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL, TimeoutError) as exc:
            raise self._transport_error(exc, method, url, budget) from exc
        self._check(response, accept)  # 3.
        return response

    def _base_url(self) -> httpx.URL:
        return self.client.base_url

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kwargs)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class SyncHttpClient(_HttpClientBase):
    """The same for sync drivers, over `httpx.Client` (which may be shared between threads,
    as the runtime's worker threads do). Timeouts bound each phase of a request (connect,
    write, each read), not the whole exchange."""

    def __init__(
        self,
        *,
        base_url: str = "",
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        status_errors: StatusErrors | None = None,
        classify: ResponseHook | None = None,
        secrets: Iterable[str] = (),
        excerpt_chars: int = DEFAULT_EXCERPT_CHARS,
        **client_options: Any,
    ) -> None:
        super().__init__(
            timeout_s=timeout_s,
            status_errors=status_errors,
            classify=classify,
            secrets=secrets,
            excerpt_chars=excerpt_chars,
        )
        self.client = httpx.Client(
            base_url=base_url,
            headers=headers,
            transport=transport,
            timeout=timeout_s,
            **client_options,
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        accept: Collection[int] = (),
        timeout_s: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """As `AsyncHttpClient.request`, blocking."""
        budget = self._budget(method, url, timeout_s)  # 1.
        try:  # 2.
            response = self.client.request(method, url, timeout=budget, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self._transport_error(exc, method, url, budget) from exc
        self._check(response, accept)  # 3.
        return response

    def _base_url(self) -> httpx.URL:
        return self.client.base_url

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
