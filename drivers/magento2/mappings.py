"""`Mappings`: the integration's mapping service as the driver uses it, awaitable, by UUID or
by code.

Producers reference other entities either by UUID (``"parent": "6f1d…"``) or by code
(``"categories": ["men"]``, ``"family": "clothing"``). Every mapping the driver writes for
an entity with a code is therefore written twice, in one `acreate_many` (one flush): under
the entity's UUID, and under the alias entity type ``<type>.code`` keyed by the code.
`resolve` tries the UUID first, then the code.

The bound service is used through `AsyncMappingService` when it has it (the runtime's store
and the test kit's do); a service with only the synchronous methods runs in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from contracts import (
    AsyncMappingService,
    EntityMappingService,
    MappingData,
    MappingServiceExtensions,
    NewMapping,
)

__all__ = ["Mappings", "alias_type"]


def alias_type(entity_type: str) -> str:
    """The entity type of code aliases of `entity_type` (``category`` → ``category.code``)."""
    return f"{entity_type}.code"


class Mappings:
    def __init__(self, service: EntityMappingService, integration_uuid: str) -> None:
        self._service = service
        self._async = service if isinstance(service, AsyncMappingService) else None
        self._integration = integration_uuid

    async def find(self, entity_type: str, key: str) -> MappingData | None:
        if self._async is not None:
            return await self._async.afind(entity_type, key, self._integration)
        return await asyncio.to_thread(self._service.find, entity_type, key, self._integration)

    async def find_many(self, entity_type: str, keys: Iterable[str]) -> dict[str, MappingData]:
        wanted = list(dict.fromkeys(keys))
        if self._async is not None:
            return await self._async.afind_many(entity_type, wanted, self._integration)
        found = [await self.find(entity_type, k) for k in wanted]
        return {k: m for k, m in zip(wanted, found, strict=True) if m is not None}

    async def resolve(self, entity_type: str, reference: str) -> MappingData | None:
        """The mapping a reference (UUID, else code) points at."""
        return await self.find(entity_type, reference) or await self.find(
            alias_type(entity_type), reference
        )

    async def resolve_many(
        self, entity_type: str, references: Iterable[str]
    ) -> dict[str, MappingData]:
        refs = list(dict.fromkeys(references))
        found = await self.find_many(entity_type, refs)
        missing = [r for r in refs if r not in found]
        if missing:
            found |= await self.find_many(alias_type(entity_type), missing)
        return found

    async def save(
        self,
        entity_type: str,
        entity_uuid: str,
        external_id: str,
        data: Mapping[str, Any],
        code: str | None,
    ) -> None:
        """Record the mapping (and its code alias), durably, before returning."""
        await self.save_many(entity_type, [(entity_uuid, external_id, data, code)])

    async def save_many(
        self,
        entity_type: str,
        entries: Iterable[tuple[str, str, Mapping[str, Any], str | None]],
    ) -> None:
        """Record several mappings (uuid, external id, data, code) in one write."""
        records: list[NewMapping] = []
        for entity_uuid, external_id, data, code in entries:
            records.append(NewMapping(entity_type, entity_uuid, external_id, data))
            if code:
                alias_data = {**data, "uuid": entity_uuid}
                records.append(NewMapping(alias_type(entity_type), code, external_id, alias_data))
        if not records:
            return
        if self._async is not None:
            await self._async.acreate_many(records, self._integration)
            return
        service = self._service
        if isinstance(service, MappingServiceExtensions):
            await asyncio.to_thread(service.create_many, records, self._integration)
            return
        for r in records:
            await asyncio.to_thread(
                service.create, r.entity_type, r.entity_uuid, self._integration,
                r.external_id, r.external_data,
            )  # fmt: skip

    async def forget(self, entity_type: str, entity_uuid: str, code: str | None) -> None:
        """Remove the mapping and its alias (a service without deletes keeps them)."""
        targets = [(entity_type, entity_uuid)] + ([(alias_type(entity_type), code)] if code else [])
        for kind, key in targets:
            if self._async is not None:
                await self._async.adelete(kind, key, self._integration)
            elif isinstance(self._service, MappingServiceExtensions):
                await asyncio.to_thread(self._service.delete, kind, key, self._integration)
