"""`MagentoApi`: Magento's REST API as the entity handlers call it (a thin I/O adapter).

It sits on `driverkit.AsyncHttpClient`, which gives every request a timeout below the call's
deadline, turns transport failures and statuses into the contract's errors and parses
``Retry-After``; this class adds what is Magento's own:

* URLs per store scope: ``<base_url>/rest/<store code>/V1/<path>``, path values (SKUs,
  codes) percent-encoded, ``/`` and ``+`` included (notes §3);
* classification from Magento's error model (`error_model.classify`): rendered messages,
  the transient 400s, "no such route" as a configuration error, 401/403 as fatal;
* at most ``max_concurrent_requests`` requests in flight, shared by concurrent batches, a
  free slot waited for only until just before the call's deadline;
* the store views' ids (for labels), read once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx

from contracts import ConfigurationError, IntegrationError, TransientError, current_deadline
from driverkit import AsyncHttpClient, parse_retry_after, safe_url
from drivers.magento2.config import Magento2Config
from drivers.magento2.error_model import MagentoErrorBody, NotFoundError, classify

__all__ = ["MagentoApi", "segment"]

_SLOT_MARGIN_S = 1.0
_SLOT_MARGIN_SHARE = 0.05


def segment(value: str | int) -> str:
    """A path value, percent-encoded (a SKU's ``/`` becomes ``%2F``)."""
    return quote(str(value), safe="")


def classify_response(response: httpx.Response) -> IntegrationError | None:
    """driverkit's hook: a failed response is judged by Magento's error model."""
    if response.is_success:
        return None
    request = f"{response.request.method} {safe_url(response.request.url)}"
    location = response.headers.get("location")
    return classify(
        response.status_code,
        MagentoErrorBody.parse(response.content),
        request=request,
        retry_after_s=parse_retry_after(response.headers.get("retry-after")),
        location=None if location is None else safe_url(response.request.url.join(location)),
    )


class MagentoApi:
    def __init__(self, http: AsyncHttpClient, config: Magento2Config) -> None:
        self.http = http
        self.config = config
        self._limit = asyncio.Semaphore(config.max_concurrent_requests)
        self._store_ids: dict[str, int] | None = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        store: str | None = None,
        body: Any = None,
        params: Mapping[str, str | int] | None = None,
        accept: Collection[int] = (),
        bulk: bool = False,
    ) -> Any:
        """One request below ``/rest/<store>`` (admin scope by default); the JSON answer,
        or None for an accepted error status (``accept=(404,)``: only Magento's own "no such
        entity", never a missing route or another server's 404)."""
        scope = store or self.config.admin_store_code
        url = f"{scope}/async/bulk/V1{path}" if bulk else f"{scope}/V1{path}"
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["json"] = body
        if params:
            kwargs["params"] = dict(params)
        async with self._slot(method, url):
            try:
                response = await self.http.request(
                    method,
                    url,
                    accept=set(accept) - {404},
                    timeout_s=self.config.request_timeout_s,
                    **kwargs,
                )
            except NotFoundError:
                if 404 in accept:
                    return None
                raise
        if response.status_code >= 300:
            return None
        return self.http.json(response)

    @asynccontextmanager
    async def _slot(self, method: str, url: str) -> AsyncIterator[None]:
        """One of the ``max_concurrent_requests`` slots, waited for only until just before
        the call's deadline (a request that cannot be sent in time is transient)."""
        deadline = current_deadline()
        try:
            if deadline is None:
                await self._limit.acquire()
            else:
                margin = min(_SLOT_MARGIN_S, _SLOT_MARGIN_SHARE * deadline.timeout_s)
                async with asyncio.timeout(deadline.timeout(margin_s=margin)):
                    await self._limit.acquire()
        except TimeoutError:
            raise TransientError(
                f"{method} {url}: not sent, no request slot was free before the call's deadline"
            ) from None
        try:
            yield
        finally:
            self._limit.release()

    async def search(
        self, path: str, filters: Mapping[str, str | int], *, condition: str = "eq"
    ) -> list[dict[str, Any]]:
        """``GET path?searchCriteria…``: items matching every filter (one filter group each;
        `condition` ``in`` takes comma-separated values)."""
        params: dict[str, str | int] = {}
        for i, (name, value) in enumerate(filters.items()):
            prefix = f"searchCriteria[filterGroups][{i}][filters][0]"
            params[f"{prefix}[field]"] = name
            params[f"{prefix}[value]"] = value
            params[f"{prefix}[conditionType]"] = condition
        result = await self.call("GET", path, params=params)
        items = result.get("items") if isinstance(result, dict) else None
        return list(items) if isinstance(items, list) else []

    async def store_ids(self) -> dict[str, int]:
        """Store view code → id (read once); a configured code the store lacks is fatal."""
        if self._store_ids is None:
            views = await self.call("GET", "/store/storeViews")
            ids = {str(v["code"]): int(v["id"]) for v in views or () if "code" in v}
            unknown = sorted(set(self.config.locale_stores.values()) - set(ids))
            if unknown:
                raise ConfigurationError(
                    f"locale_stores names store views the store does not have: {unknown} "
                    f"(it has: {sorted(ids)})"
                )
            self._store_ids = ids
        return self._store_ids
