"""`InMemoryMappingService`: the mapping service for tests, with counters to assert on."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from contracts._mutation import MappingData
from contracts._payload import FrozenDict, thaw
from contracts.mapping import NewMapping

__all__ = ["InMemoryMappingService", "MappingKey"]


class MappingKey(NamedTuple):
    """Where a mapping lives: one integration, one local entity."""

    integration_uuid: str
    entity_type: str
    entity_uuid: str


def _require_text(**values: object) -> None:
    for name, value in values.items():
        if not isinstance(value, str) or not value:
            raise TypeError(f"{name} must be a non-empty string, got {type(value).__name__}")


class InMemoryMappingService:
    """Implements `EntityMappingService`, `MappingServiceExtensions` and `AsyncMappingService`
    in a dict.

    Mappings are kept per integration, as the runtime keeps them. If `integration_uuid` is
    given, calls for any other integration raise `ValueError`: that catches a driver that
    doesn't pass its own context's uuid. `creates`, `deletes`, `updates` and `finds` count
    calls (see `reset_counters`); `snapshot()` returns a comparable copy of the state.
    """

    def __init__(self, *, integration_uuid: str | None = None) -> None:
        self.integration_uuid = integration_uuid
        self._mappings: dict[MappingKey, MappingData] = {}
        self._lock = threading.Lock()
        self.creates = 0
        self.deletes = 0
        self.updates = 0
        self.finds = 0

    def _key(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> MappingKey:
        _require_text(
            entity_type=entity_type, entity_uuid=entity_uuid, integration_uuid=integration_uuid
        )
        if self.integration_uuid is not None and integration_uuid != self.integration_uuid:
            raise ValueError(
                f"mapping call for integration {integration_uuid!r}, but this service serves "
                f"{self.integration_uuid!r} (pass self.context.integration_uuid)"
            )
        return MappingKey(integration_uuid, entity_type, entity_uuid)

    @staticmethod
    def _data(external_data: Mapping[str, Any] | None) -> FrozenDict | None:
        if external_data is None:
            return None
        if not isinstance(external_data, Mapping):
            raise TypeError(
                f"external_data must be a mapping or None, got {type(external_data).__name__}"
            )
        return FrozenDict(thaw(external_data))

    # -- EntityMappingService -------------------------------------------------------------
    def find(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> MappingData | None:
        key = self._key(entity_type, entity_uuid, integration_uuid)
        with self._lock:
            self.finds += 1
            return self._mappings.get(key)

    def create(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_id: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        key = self._key(entity_type, entity_uuid, integration_uuid)
        _require_text(external_id=external_id)
        mapping = MappingData(external_id=external_id, external_data=self._data(external_data))
        with self._lock:
            self.creates += 1
            self._mappings[key] = mapping

    # -- MappingServiceExtensions ---------------------------------------------------------
    def delete(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> bool:
        key = self._key(entity_type, entity_uuid, integration_uuid)
        with self._lock:
            self.deletes += 1
            return self._mappings.pop(key, None) is not None

    def find_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> dict[str, MappingData]:
        uuids = list(entity_uuids)
        keys = [self._key(entity_type, uuid, integration_uuid) for uuid in uuids]
        with self._lock:
            self.finds += 1
            return {k.entity_uuid: self._mappings[k] for k in keys if k in self._mappings}

    def update_external_data(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        key = self._key(entity_type, entity_uuid, integration_uuid)
        data = self._data(external_data)
        with self._lock:
            current = self._mappings.get(key)
            if current is None:
                raise KeyError(f"no mapping for {entity_type} {entity_uuid}")
            self.updates += 1
            self._mappings[key] = MappingData(external_id=current.external_id, external_data=data)

    def create_many(self, mappings: Iterable[NewMapping], integration_uuid: str) -> None:
        for mapping in list(mappings):
            self.create(
                mapping.entity_type,
                mapping.entity_uuid,
                integration_uuid,
                mapping.external_id,
                mapping.external_data,
            )

    def delete_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> int:
        return sum(self.delete(entity_type, uuid, integration_uuid) for uuid in list(entity_uuids))

    # -- AsyncMappingService --------------------------------------------------------------
    async def afind(
        self, entity_type: str, entity_uuid: str, integration_uuid: str
    ) -> MappingData | None:
        return self.find(entity_type, entity_uuid, integration_uuid)

    async def afind_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> dict[str, MappingData]:
        return self.find_many(entity_type, entity_uuids, integration_uuid)

    async def acreate(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_id: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        self.create(entity_type, entity_uuid, integration_uuid, external_id, external_data)

    async def acreate_many(self, mappings: Iterable[NewMapping], integration_uuid: str) -> None:
        self.create_many(mappings, integration_uuid)

    async def adelete(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> bool:
        return self.delete(entity_type, entity_uuid, integration_uuid)

    async def adelete_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> int:
        return self.delete_many(entity_type, entity_uuids, integration_uuid)

    async def aupdate_external_data(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        self.update_external_data(entity_type, entity_uuid, integration_uuid, external_data)

    # -- for assertions -------------------------------------------------------------------
    def count(self, integration_uuid: str | None = None, entity_type: str | None = None) -> int:
        """How many mappings exist (optionally of one integration and/or entity type)."""
        return len(self.snapshot(integration_uuid, entity_type))

    def snapshot(
        self, integration_uuid: str | None = None, entity_type: str | None = None
    ) -> dict[MappingKey, MappingData]:
        """A copy of the mappings (optionally filtered); equal snapshots mean equal state."""
        with self._lock:
            return {
                key: mapping
                for key, mapping in self._mappings.items()
                if (integration_uuid is None or key.integration_uuid == integration_uuid)
                and (entity_type is None or key.entity_type == entity_type)
            }

    def reset_counters(self) -> None:
        with self._lock:
            self.creates = self.deletes = self.updates = self.finds = 0

    def clear(self) -> None:
        """Forget every mapping and reset the counters."""
        with self._lock:
            self._mappings.clear()
            self.creates = self.deletes = self.updates = self.finds = 0
