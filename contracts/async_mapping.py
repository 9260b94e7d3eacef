"""`awaitable_mapping_service`: the `AsyncMappingService` view of any bound mapping service.

An ``async`` driver must not block the event loop on a mapping write (a durable write waits
for the broker). The runtime's store and `contracts.testing.InMemoryMappingService` are
awaitable themselves; for a service that is only an `EntityMappingService` (or
`MappingServiceExtensions`), the view runs each blocking call in a worker thread.
`AbstractDriver.async_mapping_service` returns this view of the bound service.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from contracts._mutation import MappingData
from contracts.mapping import (
    AsyncMappingService,
    EntityMappingService,
    MappingServiceExtensions,
    NewMapping,
)

__all__ = ["awaitable_mapping_service"]


def awaitable_mapping_service(service: EntityMappingService) -> AsyncMappingService:
    """`service` itself if it is awaitable, else a view running its calls in threads."""
    if isinstance(service, AsyncMappingService):
        return service
    return _ThreadedMappingService(service)


class _ThreadedMappingService:
    """Each call in `asyncio.to_thread`; what the seed's two methods cannot do raises
    `NotImplementedError` naming the missing capability."""

    def __init__(self, service: EntityMappingService) -> None:
        self._service = service

    def _extended(self, operation: str) -> MappingServiceExtensions:
        if not isinstance(self._service, MappingServiceExtensions):
            raise NotImplementedError(
                f"{type(self._service).__name__} implements only find/create, not {operation}"
            )
        return self._service

    async def afind(
        self, entity_type: str, entity_uuid: str, integration_uuid: str
    ) -> MappingData | None:
        return await asyncio.to_thread(
            self._service.find, entity_type, entity_uuid, integration_uuid
        )

    async def afind_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> dict[str, MappingData]:
        service = self._extended("find_many")
        return await asyncio.to_thread(
            service.find_many, entity_type, list(entity_uuids), integration_uuid
        )

    async def acreate(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_id: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        await asyncio.to_thread(
            self._service.create,
            entity_type,
            entity_uuid,
            integration_uuid,
            external_id,
            external_data,
        )

    async def acreate_many(self, mappings: Iterable[NewMapping], integration_uuid: str) -> None:
        service = self._extended("create_many")
        await asyncio.to_thread(service.create_many, list(mappings), integration_uuid)

    async def adelete(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> bool:
        service = self._extended("delete")
        return await asyncio.to_thread(service.delete, entity_type, entity_uuid, integration_uuid)

    async def adelete_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> int:
        service = self._extended("delete_many")
        return await asyncio.to_thread(
            service.delete_many, entity_type, list(entity_uuids), integration_uuid
        )

    async def aupdate_external_data(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        service = self._extended("update_external_data")
        await asyncio.to_thread(
            service.update_external_data, entity_type, entity_uuid, integration_uuid, external_data
        )
