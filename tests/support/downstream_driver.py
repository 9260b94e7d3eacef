"""A driver in front of a fake downstream that counts creates and updates in a file.

It follows the seed's best practice: find the mapping; create externally and persist the
mapping at once if there is none; otherwise update. `crash_after_create` makes the process
die right after persisting one mapping, before the batch finishes (so before any offset
commit): the crash the mapping store must make harmless.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import orjson
from json_lines import read_json_lines
from pydantic import BaseModel

from contracts import AbstractDriver, MutationData


class DownstreamConfig(BaseModel):
    downstream_path: str
    crash_after_create: str | None = None
    """An entity uuid: exit the process (as SIGKILL would) right after its mapping is created."""


class DownstreamDriver(AbstractDriver):
    def get_name(self) -> str:
        return "Downstream"

    def get_type(self) -> str:
        return "downstream"

    def get_version(self) -> str:
        return "1.0.0"

    def get_configuration_schema(self) -> type[BaseModel]:
        return DownstreamConfig

    def handle(self, mutation: MutationData) -> None:
        cfg = self.config
        assert isinstance(cfg, DownstreamConfig)
        uuid = self.context.integration_uuid
        mapping = self.mapping_service.find(mutation.entity_type, mutation.entity_uuid, uuid)
        if mapping is None:
            external_id = f"ext-{mutation.entity_uuid}"
            self._downstream("create", mutation, external_id)
            self.mapping_service.create(
                mutation.entity_type,
                mutation.entity_uuid,
                uuid,
                external_id,
                {"v": mutation.version},
            )
            if cfg.crash_after_create == mutation.entity_uuid:
                os._exit(137)
        else:
            self._downstream("update", mutation, mapping.external_id)

    def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        for mutation in mutations:
            self.handle(mutation)

    def _downstream(self, action: str, mutation: MutationData, external_id: str) -> None:
        cfg = self.config
        assert isinstance(cfg, DownstreamConfig)
        line = orjson.dumps([action, mutation.entity_uuid, external_id, mutation.version])
        with open(cfg.downstream_path, "ab") as out:
            out.write(line + b"\n")
            out.flush()
            os.fsync(out.fileno())


def downstream_calls(path: str) -> list[list[object]]:
    calls: list[list[object]] = read_json_lines(path)
    return calls
