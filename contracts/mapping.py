"""`EntityMappingService`: local entity UUID → external id, per integration.

The seed's interface is `find` and `create`. `MappingServiceExtensions` adds what the seed
lacks (delete, bulk find, updating external data) under new names; the runtime's Kafka-backed
store and `contracts.testing.InMemoryMappingService` implement both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from contracts._mutation import MappingData

__all__ = ["EntityMappingService", "MappingServiceExtensions"]


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
