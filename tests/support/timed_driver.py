"""Drivers for concurrency tests: each call's start and end time, appended to a JSON-lines file.

Every line is ``{"u": uuid, "v": version, "s": start, "e": end, "ok": bool, "pid": pid}``
(wall-clock seconds), written with one `os.write` on an ``O_APPEND`` file, so lines of
concurrent calls and of several processes never interleave. A killed process leaves every
finished call in the file (`json_lines` says what a reader may see meanwhile).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Sequence
from typing import Any

import orjson
from json_lines import read_json_lines
from pydantic import BaseModel

from contracts import AbstractDriver, DependencyNotReadyError, MutationData


class TimedConfig(BaseModel):
    output_path: str
    min_ms: float = 0
    """Each call takes between `min_ms` and `max_ms` (uniformly random)."""
    max_ms: float = 0
    waiting_uuids: list[str] = []
    """These entities fail with DependencyNotReadyError until `ready_at` (epoch seconds)."""
    ready_at: float = 0
    waits_for: str = ""
    """Every other entity fails with DependencyNotReadyError until this entity's mutation
    was handled (a category its products need)."""
    slow_uuids: list[str] = []
    """The first call of these entities takes `slow_ms` (past the handle timeout)."""
    slow_ms: float = 0


class _Timed(AbstractDriver):
    def __init__(self) -> None:
        super().__init__()
        self._slowed: set[str] = set()
        self._arrived = False
        self._fd: int | None = None

    def get_name(self) -> str:
        return "Timed"

    def get_version(self) -> str:
        return "1.0.0"

    def get_configuration_schema(self) -> type[BaseModel]:
        return TimedConfig

    @property
    def cfg(self) -> TimedConfig:
        assert isinstance(self.config, TimedConfig)
        return self.config

    def _delay_s(self, mutation: MutationData) -> float:
        cfg = self.cfg
        if mutation.entity_uuid in cfg.slow_uuids and mutation.entity_uuid not in self._slowed:
            self._slowed.add(mutation.entity_uuid)
            return cfg.slow_ms / 1000
        return random.uniform(cfg.min_ms, cfg.max_ms) / 1000

    def _failure(self, mutation: MutationData) -> Exception | None:
        cfg = self.cfg
        if mutation.entity_uuid in cfg.waiting_uuids and time.time() < cfg.ready_at:
            return DependencyNotReadyError(f"{mutation.entity_uuid} waits for its category")
        if cfg.waits_for and not self._arrived:
            if mutation.entity_uuid != cfg.waits_for:
                return DependencyNotReadyError(f"{mutation.entity_uuid} waits for {cfg.waits_for}")
            self._arrived = True
        return None

    def _write(self, mutation: MutationData, start: float, ok: bool) -> None:
        if self._fd is None:
            self._fd = os.open(self.cfg.output_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        line: dict[str, Any] = {
            "u": mutation.entity_uuid,
            "v": mutation.version,
            "s": start,
            "e": time.time(),
            "ok": ok,
            "pid": os.getpid(),
        }
        os.write(self._fd, orjson.dumps(line) + b"\n")


class TimedDriver(_Timed):
    """``async``, implements only `handle`: the runtime calls it per record."""

    def get_type(self) -> str:
        return "timed"

    async def handle(self, mutation: MutationData) -> None:
        start = time.time()
        await asyncio.sleep(self._delay_s(mutation))
        failure = self._failure(mutation)
        self._write(mutation, start, failure is None)
        if failure is not None:
            raise failure


class SyncTimedDriver(_Timed):
    """Sync, implements only `handle` (worker threads)."""

    def get_type(self) -> str:
        return "timed-sync"

    def handle(self, mutation: MutationData) -> None:
        start = time.time()
        time.sleep(self._delay_s(mutation))
        failure = self._failure(mutation)
        self._write(mutation, start, failure is None)
        if failure is not None:
            raise failure


class SyncTimedBatchDriver(_Timed):
    """Sync `handle_batch`: one call per batch, each record written with the batch's times."""

    def get_type(self) -> str:
        return "timed-sync-batch"

    def handle(self, mutation: MutationData) -> None:
        raise AssertionError("handle_batch is overridden")

    def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        start = time.time()
        time.sleep(max((self._delay_s(m) for m in mutations), default=0.0))
        for mutation in mutations:
            self._write(mutation, start, True)


def read_calls(path: str) -> list[dict[str, Any]]:
    """Every call the drivers wrote, in file order (empty if none yet)."""
    calls: list[dict[str, Any]] = read_json_lines(path)
    return calls
