"""`Mappings`: the integration's mapping service as the driver uses it, awaitable, by UUID or
by code.

Producers reference other entities either by UUID (``"parent": "6f1d…"``) or by code
(``"categories": ["men"]``, ``"family": "clothing"``). Every mapping the driver writes for
an entity with a code is therefore written twice, in one `acreate_many` (one flush): under
the entity's UUID, and under the alias entity type ``<type>.code`` keyed by the code.
`resolve` tries the UUID first, then the code.

The driver passes the contract's awaitable view of the bound service
(`AbstractDriver.async_mapping_service`: the service itself when it is awaitable, else its
calls in worker threads), so no mapping call blocks the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from contracts import AsyncMappingService, MappingData, NewMapping

__all__ = ["Mappings", "alias_type"]


def alias_type(entity_type: str) -> str:
    """The entity type of code aliases of `entity_type` (``category`` → ``category.code``)."""
    return f"{entity_type}.code"


class Mappings:
    def __init__(self, service: AsyncMappingService, integration_uuid: str) -> None:
        self._service = service
        self._integration = integration_uuid

    async def find(self, entity_type: str, key: str) -> MappingData | None:
        return await self._service.afind(entity_type, key, self._integration)

    async def find_many(self, entity_type: str, keys: Iterable[str]) -> dict[str, MappingData]:
        return await self._service.afind_many(
            entity_type, list(dict.fromkeys(keys)), self._integration
        )

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
        if records:
            await self._service.acreate_many(records, self._integration)

    async def forget(self, entity_type: str, entity_uuid: str, code: str | None) -> None:
        """Remove the mapping and its alias."""
        await self._service.adelete(entity_type, entity_uuid, self._integration)
        if code:
            await self._service.adelete(alias_type(entity_type), code, self._integration)
