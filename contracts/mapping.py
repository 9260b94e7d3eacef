"""`EntityMappingService`: local entity UUID → external id, per integration.

The seed's interface is `find` and `create`. `MappingServiceExtensions` adds what the seed
lacks (delete, bulk find and bulk writes, updating external data) under new names, and
`AsyncMappingService` offers the same as coroutines for ``async`` drivers, so that a mapping
write never blocks the event loop. The runtime's Kafka-backed store and
`contracts.testing.InMemoryMappingService` implement all three.

Bulk writes are the fast path: `create_many`/`acreate_many` send every mapping of the call
together and wait once for all of them, where a loop of `create` waits once per mapping.
Every write is durable when its call returns, whichever form it takes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from contracts._mutation import MappingData

__all__ = ["AsyncMappingService", "EntityMappingService", "MappingServiceExtensions", "NewMapping"]


@dataclass(frozen=True, slots=True)
class NewMapping:
    """One mapping to record with `create_many`/`acreate_many`."""

    entity_type: str
    entity_uuid: str
    external_id: str
    external_data: Mapping[str, Any] | None = None


@runtime_checkable
class EntityMappingService(Protocol):
    """The seed's `EntityMappingServiceInterface`.

    Implementations make `create` durable before it returns, so a crash right after an
    external create never causes a second create when the mutation is replayed.
    """

    def find(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> MappingData | None:
        """The mapping of one local entity, or None if it has none."""
        ...

    def create(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_id: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        """Record (or overwrite) the mapping of one local entity. Durable on return."""
        ...


@runtime_checkable
class MappingServiceExtensions(EntityMappingService, Protocol):
    """Capabilities beyond the seed: delete, bulk lookup and updating `external_data`."""

    def delete(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> bool:
        """Remove a mapping; True if there was one. Durable on return."""
        ...

    def find_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> dict[str, MappingData]:
        """Mappings of several entities of one type, keyed by UUID; missing ones are absent."""
        ...

    def update_external_data(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        """Replace the external data of an existing mapping (KeyError if there is none)."""
        ...

    def create_many(self, mappings: Iterable[NewMapping], integration_uuid: str) -> None:
        """Record (or overwrite) several mappings, written together. Durable on return.

        If the call raises, none, some or all of the mappings may have been written; calling
        it again with the same mappings is safe.
        """
        ...

    def delete_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> int:
        """Remove the mappings of several entities of one type; returns how many existed."""
        ...


@runtime_checkable
class AsyncMappingService(Protocol):
    """The mapping service for ``async`` drivers: the same operations, awaitable.

    Lookups answer from memory; writes are awaited until durable without blocking the
    event loop, and writes awaited concurrently are sent together.
    """

    async def afind(
        self, entity_type: str, entity_uuid: str, integration_uuid: str
    ) -> MappingData | None: ...

    async def afind_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> dict[str, MappingData]: ...

    async def acreate(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_id: str,
        external_data: Mapping[str, Any] | None,
    ) -> None: ...

    async def acreate_many(self, mappings: Iterable[NewMapping], integration_uuid: str) -> None: ...

    async def adelete(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> bool: ...

    async def adelete_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> int: ...

    async def aupdate_external_data(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_data: Mapping[str, Any] | None,
    ) -> None: ...
