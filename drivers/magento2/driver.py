"""`Magento2Driver`: IEC catalogue events into a Magento 2.4 store over its REST API.

Lifecycle (the runtime's, see `contracts.driver`):

1. ``bind``: the configuration is validated (`Magento2Config`); the request timeout must be
   below the integration's handle timeout.
2. ``open``: the HTTP client (`driverkit.AsyncHttpDriver`: OAuth 1.0a HMAC-SHA256 or bearer
   auth, connection limits, timeouts below each call's deadline) and the `Session` the
   entity handlers share.
3. ``handle_batch``: mutations of one entity type, concurrently across SKUs/codes and in
   order within one (`run_in_key_order`: at most ``max_concurrent_requests`` mutations in
   progress across batches, none started once the call's deadline is near, so the call
   returns what it finished before the runtime would cancel it); products go through the
   bulk API instead when
   ``bulk_mode`` is on. A fatal failure (credentials, ACL, wrong URL) is raised as it is, so
   the integration stops with its message; other failures are reported per record with
   `PartialBatchError`.
4. ``close``: the HTTP client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

import httpx

from contracts import (
    ConfigurationError,
    ConfigurationSchema,
    DriverBinding,
    EntityTypes,
    IntegrationError,
    MutationData,
    PartialBatchError,
    PermanentError,
)
from driverkit import AsyncHttpDriver
from drivers.magento2.api import MagentoApi, classify_response
from drivers.magento2.attributes import apply_attribute
from drivers.magento2.auth import request_auth
from drivers.magento2.bulk import apply_products_in_bulk
from drivers.magento2.categories import apply_category
from drivers.magento2.config import Magento2Config
from drivers.magento2.families import apply_family
from drivers.magento2.mappings import Mappings
from drivers.magento2.ordering import run_in_key_order
from drivers.magento2.products import apply_product
from drivers.magento2.session import Session

__all__ = ["Magento2Driver"]

_Apply = Callable[[Session, MutationData], Awaitable[None]]
_HANDLERS: dict[str, _Apply] = {
    EntityTypes.PRODUCT: apply_product,
    EntityTypes.CATEGORY: apply_category,
    EntityTypes.ATTRIBUTE: apply_attribute,
    EntityTypes.FAMILY: apply_family,
}


class Magento2Driver(AsyncHttpDriver):
    """Magento 2.4 (Open Source / Adobe Commerce): products, categories, attributes, sets."""

    supported_entity_types: ClassVar[Sequence[str]] = EntityTypes.standard()
    _session: Session | None = None

    def get_name(self) -> str:
        return "Magento 2"

    def get_type(self) -> str:
        return "magento2"

    def get_version(self) -> str:
        return "1.0.0"

    def get_description(self) -> str:
        return (
            "Magento 2.4 REST: attributes with options, families as attribute sets, category "
            "trees, simple products with localized values; optional bulk API for backfills."
        )

    def get_configuration_schema(self) -> ConfigurationSchema:
        return Magento2Config

    # -- 1. bind --------------------------------------------------------------------------
    def bind(self, binding: DriverBinding) -> None:
        super().bind(binding)
        config = self.settings
        handle_timeout = binding.context.handle_timeout_s
        if config.request_timeout_s >= handle_timeout:
            raise ConfigurationError(
                f"request_timeout_s ({config.request_timeout_s:g}) must be below the "
                f"integration's handle timeout ({handle_timeout:g} s): lower it, or raise "
                "handle_timeout_ms"
            )

    @property
    def settings(self) -> Magento2Config:
        if not isinstance(self.config, Magento2Config):
            raise RuntimeError("magento2: the driver is not bound to a configuration yet")
        return self.config

    # -- 2. open --------------------------------------------------------------------------
    def http_base_url(self) -> str:
        return f"{str(self.settings.base_url).rstrip('/')}/rest/"

    def http_options(self) -> Mapping[str, Any]:
        limit = self.settings.max_concurrent_requests
        return {
            "auth": request_auth(self.settings),
            "limits": httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
        }

    def http_headers(self) -> Mapping[str, str]:
        return {"Accept": "application/json"}

    def classify_response(self, response: httpx.Response) -> IntegrationError | None:
        return classify_response(response)

    async def open(self) -> None:
        await super().open()
        self._session = Session(
            api=MagentoApi(self.http, self.settings),
            mappings=Mappings(self.async_mapping_service, self.integration_uuid),
            config=self.settings,
            logger=self.logger,
        )

    # -- 3. handle ------------------------------------------------------------------------
    async def handle(self, mutation: MutationData) -> None:
        await self.handle_batch([mutation])

    async def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        session = self._session
        if session is None:
            raise RuntimeError("magento2: handle_batch before open()")
        if (
            self.settings.bulk_mode
            and mutations
            and all(m.entity_type == EntityTypes.PRODUCT for m in mutations)
        ):
            failures = await apply_products_in_bulk(session, mutations)
        else:
            failures = await run_in_key_order(
                mutations,
                _key,
                lambda m: _apply(session, m),
                slots=session.slots,
            )
        _raise(mutations, failures)

    # -- 4. close: AsyncHttpDriver.close closes the client ---------------------------------


def _key(m: MutationData) -> str:
    # In order per entity; saves of one SKU by different entities are serialised by the
    # products' SKU locks.
    return f"{m.entity_type}:{m.entity_uuid}"


async def _apply(session: Session, m: MutationData) -> None:
    handler = _HANDLERS.get(m.entity_type)
    if handler is None:
        raise PermanentError(f"magento2 does not handle entity type {m.entity_type!r}")
    await handler(session, m)


def _raise(mutations: Sequence[MutationData], failures: dict[int, BaseException]) -> None:
    """Nothing, the one failure of a single mutation, a fatal one, or a PartialBatchError."""
    if not failures:
        return
    fatal = next((e for e in failures.values() if getattr(e, "fatal", False)), None)
    if fatal is not None:
        raise fatal
    if len(mutations) == 1:
        raise failures[0]
    raise PartialBatchError(failures)
