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
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from contracts import (
    AbstractDriver,
    ConfigurationSchema,
    MappingServiceExtensions,
    MutationData,
    Operation,
)

__all__ = ["ExampleDriver"]

# Namespace for the deterministic external ids (uuid5 of "<entity_type>:<entity_uuid>").
_EXTERNAL_ID_NAMESPACE = uuid.UUID("5b0a6b8e-7c1f-4b59-9e7e-6f1c2f0c9e11")


def _is_stale(mutation: MutationData, external_data: Any) -> bool:
    applied = external_data.get("version") if external_data else None
    return isinstance(applied, int) and mutation.version is not None and mutation.version < applied


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
        self.logger.info(
            "Handling mutation",
            extra={
                "type": mutation.entity_type,
                "uuid": mutation.entity_uuid,
                "op": mutation.operation.value,
            },
        )
        if mutation.operation is Operation.DELETED:
            self._forget(mutation)
        else:
            self._remember(mutation)

    def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        # As in the seed: one by one, in order (a bulk downstream API would go here).
        for mutation in mutations:
            self.handle(mutation)

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
