"""`ExampleDriver`, ported from the seed's skeleton and made observable but harmless.

It never calls the network. For every mutation it logs "Handling mutation" (with the seed's
``type``/``uuid``/``op`` context) and keeps the entity's mapping the way a real driver would:

1. created: look the mapping up; create one with a deterministic external id if there is none
   (so a replayed batch finds it and creates nothing twice).
2. updated: make sure the mapping exists (upsert: the created event may predate the
   integration) and refresh its external data, unless the mapping already reflects a newer
   `version` of the entity (a replayed, older mutation changes nothing).
3. deleted: remove the mapping if the mapping service supports deletes; deleting an entity
   that was never mapped is not an error.

`handle_batch` is ``async`` and takes the fast path when the mapping service is awaitable
(`AsyncMappingService`, as the runtime's is): the batch's mappings are read from memory with
one `afind_many` per entity type, and the writes are awaited together, once per *round*. A
round holds the next mutation of every entity in the batch; an entity that appears twice
in a batch takes a second round, so each entity's mutations still apply in order, exactly
as one by one. With any other mapping service it handles the batch one by one in a thread.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

from contracts import (
    AbstractDriver,
    AsyncMappingService,
    ConfigurationSchema,
    MappingData,
    MappingServiceExtensions,
    MutationData,
    NewMapping,
    Operation,
)

__all__ = ["ExampleDriver"]

# Namespace for the deterministic external ids (uuid5 of "<entity_type>:<entity_uuid>").
_EXTERNAL_ID_NAMESPACE = uuid.UUID("5b0a6b8e-7c1f-4b59-9e7e-6f1c2f0c9e11")


def _is_stale(mutation: MutationData, external_data: Any) -> bool:
    applied = external_data.get("version") if external_data else None
    return isinstance(applied, int) and mutation.version is not None and mutation.version < applied


@dataclass
class _Round:
    """The writes decided for one round of a batch, awaited together."""

    creates: list[NewMapping] = field(default_factory=list)
    updates: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    deletes: dict[str, list[str]] = field(default_factory=dict)


class ExampleDriver(AbstractDriver):
    """Example integration: logs each mutation and keeps its entity mappings."""

    def get_name(self) -> str:
        return "Example"

    def get_type(self) -> str:
        return "example"

    def get_version(self) -> str:
        return "1.0.0"

    def get_description(self) -> str:
        return (
            "Example integration: logs each mutation and keeps its mappings; "
            "never calls the network."
        )

    def get_configuration_schema(self) -> ConfigurationSchema:
        return {
            "base_url": "required|url",
            "api_key": "required|string",
        }

    @staticmethod
    def external_id(entity_type: str, entity_uuid: str) -> str:
        """The id the pretend downstream gives an entity: stable, so replays are idempotent."""
        return f"ex-{uuid.uuid5(_EXTERNAL_ID_NAMESPACE, f'{entity_type}:{entity_uuid}')}"

    def handle(self, mutation: MutationData) -> None:
        self._log_handling(mutation)
        if mutation.operation is Operation.DELETED:
            self._forget(mutation)
        else:
            self._remember(mutation)

    async def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        service = self.mapping_service
        if not isinstance(service, AsyncMappingService):
            # The seed's synchronous interface: one by one, in order, off the event loop.
            await asyncio.to_thread(self._handle_one_by_one, mutations)
            return
        for mutation in mutations:
            self._log_handling(mutation)
        state = await self._mappings_of(service, mutations)
        for round_ in _rounds(mutations):
            await self._write(service, self._decide(round_, state))

    # -- the fast path -------------------------------------------------------------------

    async def _mappings_of(
        self, service: AsyncMappingService, mutations: Sequence[MutationData]
    ) -> dict[tuple[str, str], MappingData | None]:
        """The current mapping of every entity of the batch: one lookup per entity type."""
        by_type: dict[str, list[str]] = {}
        for m in mutations:
            by_type.setdefault(m.entity_type, []).append(m.entity_uuid)
        state: dict[tuple[str, str], MappingData | None] = {}
        for entity_type, uuids in by_type.items():
            found = await service.afind_many(entity_type, uuids, self.integration_uuid)
            for entity_uuid in uuids:
                state[(entity_type, entity_uuid)] = found.get(entity_uuid)
        return state

    def _decide(
        self, mutations: Sequence[MutationData], state: dict[tuple[str, str], MappingData | None]
    ) -> _Round:
        """Steps 1 to 3 for one mutation per entity, against (and updating) `state`."""
        writes = _Round()
        for m in mutations:
            key = (m.entity_type, m.entity_uuid)
            current = state[key]
            if m.operation is Operation.DELETED:
                # 3.
                writes.deletes.setdefault(m.entity_type, []).append(m.entity_uuid)
                state[key] = None
                continue
            data = self._external_data(m)
            if current is None:
                # 1./2. No mapping yet: create it.
                external_id = self.external_id(m.entity_type, m.entity_uuid)
                writes.creates.append(NewMapping(m.entity_type, m.entity_uuid, external_id, data))
                state[key] = MappingData(external_id=external_id, external_data=data)
            elif _is_stale(m, current.external_data):
                self.logger.debug("stale mutation skipped", extra={"uuid": m.entity_uuid})
            elif current.external_data != data:
                # 2. Refresh the external data.
                writes.updates.append((m.entity_type, m.entity_uuid, data))
                state[key] = MappingData(external_id=current.external_id, external_data=data)
        return writes

    async def _write(self, service: AsyncMappingService, writes: _Round) -> None:
        """One round's writes, awaited together (each entity appears once in a round)."""
        integration = self.integration_uuid
        pending: list[Awaitable[Any]] = []
        if writes.creates:
            pending.append(service.acreate_many(writes.creates, integration))
        for entity_type, entity_uuid, data in writes.updates:
            update = service.aupdate_external_data(entity_type, entity_uuid, integration, data)
            pending.append(update)
        for entity_type, uuids in writes.deletes.items():
            pending.append(service.adelete_many(entity_type, uuids, integration))
        if pending:
            await asyncio.gather(*pending)

    # -- one by one (the seed's interface) -----------------------------------------------

    def _handle_one_by_one(self, mutations: Sequence[MutationData]) -> None:
        for mutation in mutations:
            self.handle(mutation)

    def _log_handling(self, mutation: MutationData) -> None:
        self.logger.info(
            "Handling mutation",
            extra={
                "type": mutation.entity_type,
                "uuid": mutation.entity_uuid,
                "op": mutation.operation.value,
            },
        )

    def _external_data(self, mutation: MutationData) -> dict[str, Any]:
        # A robust business key, as the seed recommends (SKU for products, code otherwise).
        key = mutation.payload.get("sku", mutation.payload.get("code"))
        return {"key": key if isinstance(key, str) else None, "version": mutation.version}

    def _remember(self, mutation: MutationData) -> None:
        # 1./2. Create the mapping if missing, else refresh its external data.
        service = self.mapping_service
        integration = self.integration_uuid
        data = self._external_data(mutation)
        current = service.find(mutation.entity_type, mutation.entity_uuid, integration)
        if current is None:
            external_id = self.external_id(mutation.entity_type, mutation.entity_uuid)
            service.create(
                mutation.entity_type, mutation.entity_uuid, integration, external_id, data
            )
        elif _is_stale(mutation, current.external_data):
            self.logger.debug("stale mutation skipped", extra={"uuid": mutation.entity_uuid})
        elif current.external_data != data:
            if isinstance(service, MappingServiceExtensions):
                service.update_external_data(
                    mutation.entity_type, mutation.entity_uuid, integration, data
                )
            else:
                service.create(
                    mutation.entity_type,
                    mutation.entity_uuid,
                    integration,
                    current.external_id,
                    data,
                )

    def _forget(self, mutation: MutationData) -> None:
        # 3. Remove the mapping; the seed's interface has no delete, so it may have to stay.
        service = self.mapping_service
        if isinstance(service, MappingServiceExtensions):
            service.delete(mutation.entity_type, mutation.entity_uuid, self.integration_uuid)
        else:
            self.logger.debug(
                "mapping kept: the mapping service cannot delete",
                extra={"uuid": mutation.entity_uuid},
            )


def _rounds(mutations: Sequence[MutationData]) -> list[list[MutationData]]:
    """Round k holds the k-th mutation of every entity, in batch order."""
    rounds: list[list[MutationData]] = []
    seen: dict[tuple[str, str], int] = {}
    for m in mutations:
        key = (m.entity_type, m.entity_uuid)
        k = seen.get(key, 0)
        seen[key] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(m)
    return rounds
