"""Drivers for runtime tests: they append what they handle to a JSON-lines file.

The file is the test's ground truth across processes (a connector killed with SIGKILL
still leaves every handled mutation in it).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson
from json_lines import read_json_lines
from pydantic import BaseModel

from contracts import AbstractDriver, MutationData, PermanentError, TransientError


class RecordingConfig(BaseModel):
    output_path: str
    sleep_ms: int = 0
    """Pause per batch (a slow downstream)."""
    poison_uuids: list[str] = []
    """Mutations of these entities fail permanently."""
    flaky_uuids: list[str] = []
    """Mutations of these entities fail transiently `flaky_failures` times, then succeed."""
    flaky_failures: int = 2
    down_until_file: str | None = None
    """While this file exists, every batch fails transiently (downstream down)."""
    hang_uuids: list[str] = []
    """Batches holding these entities never return (a driver that always times out)."""
    hang_ms: int = 3_600_000
    """How long such a call blocks before it fails (bounded in tests: a sync call cannot be
    killed, so an abandoned one keeps its thread until then)."""
    poison_versions: list[str] = []
    """``"<entity uuid>@<version>"``: only that mutation of the entity fails permanently."""
    api_key: str = ""
    """A secret: `leaky_uuids` put it into their error messages."""
    leaky_uuids: list[str] = []
    """Mutations of these entities fail transiently with `api_key` in the message and cause."""
    calls_path: str | None = None
    """Every `handle_batch` call, failed or not, is appended here (one JSON line per call)."""


class RecordingDriver(AbstractDriver):
    """Sync driver; each batch is one JSON line {"pid", "batch": [[uuid, op, version], ...]}."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._flaky: dict[str, int] = {}
        self.opened = False
        self.closed = False

    def get_name(self) -> str:
        return "Recording"

    def get_type(self) -> str:
        return "recording"

    def get_version(self) -> str:
        return "1.0.0"

    def get_configuration_schema(self) -> type[BaseModel]:
        return RecordingConfig

    def open(self) -> None:
        self.opened = True

    def close(self) -> None:
        self.closed = True

    @property
    def cfg(self) -> RecordingConfig:
        assert isinstance(self.config, RecordingConfig)
        return self.config

    def handle(self, mutation: MutationData) -> None:
        self.handle_batch([mutation])

    def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        self._check(mutations)
        if self.cfg.sleep_ms:
            time.sleep(self.cfg.sleep_ms / 1000)
        self._record(mutations)

    def _check(self, mutations: Sequence[MutationData]) -> None:
        cfg = self.cfg
        if cfg.calls_path:
            self._append(cfg.calls_path, mutations)
        if cfg.down_until_file and os.path.exists(cfg.down_until_file):
            raise TransientError("downstream unavailable")
        for m in mutations:
            if m.entity_uuid in cfg.hang_uuids:
                time.sleep(cfg.hang_ms / 1000)
                raise TransientError(f"no answer for {m.entity_uuid}")
            if m.entity_uuid in cfg.poison_uuids:
                raise PermanentError(f"downstream rejected {m.entity_uuid}")
            if f"{m.entity_uuid}@{m.version}" in cfg.poison_versions:
                raise PermanentError(f"downstream rejected {m.entity_uuid}@{m.version}")
            if m.entity_uuid in cfg.leaky_uuids:
                # A careless driver: the secret ends up in the message and in the cause.
                raise TransientError(
                    f"401 from downstream for {m.entity_uuid} with api_key={cfg.api_key}"
                ) from ConnectionError(f"Authorization: Bearer {cfg.api_key}")
            if m.entity_uuid in cfg.flaky_uuids:
                with self._lock:
                    seen = self._flaky.get(m.entity_uuid, 0)
                    self._flaky[m.entity_uuid] = seen + 1
                if seen < cfg.flaky_failures:
                    raise TransientError(f"flaky downstream for {m.entity_uuid}")

    def _record(self, mutations: Sequence[MutationData]) -> None:
        self._append(self.cfg.output_path, mutations)

    def _append(self, path: str, mutations: Sequence[MutationData]) -> None:
        line = orjson.dumps(
            {
                "pid": os.getpid(),
                "type": mutations[0].entity_type if mutations else None,
                "batch": [[m.entity_uuid, m.operation.value, m.version] for m in mutations],
            }
        )
        with self._lock, open(path, "ab") as out:
            out.write(line + b"\n")


class AsyncRecordingDriver(RecordingDriver):
    """The same, with `async def handle_batch`."""

    def get_type(self) -> str:
        return "recording-async"

    async def handle_batch(self, mutations: Sequence[MutationData]) -> None:  # type: ignore[override]
        self._check(mutations)
        if self.cfg.sleep_ms:
            await asyncio.sleep(self.cfg.sleep_ms / 1000)
        self._record(mutations)


def read_batches(path: str) -> list[dict[str, Any]]:
    """Every batch line the drivers wrote (empty if none yet)."""
    batches: list[dict[str, Any]] = read_json_lines(path)
    return batches
