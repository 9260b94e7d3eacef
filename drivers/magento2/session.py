"""`Session`: what the entity handlers share during one driver's life, and small helpers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from contracts import MappingData, MutationData
from drivers.magento2.api import MagentoApi
from drivers.magento2.bodies import Locales
from drivers.magento2.config import Magento2Config
from drivers.magento2.mappings import Mappings

__all__ = ["KeyedLocks", "Session", "data_of", "is_stale", "version_data"]


class KeyedLocks:
    """One asyncio lock per key (e.g. a SKU), dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]


@dataclass
class Session:
    api: MagentoApi
    mappings: Mappings
    config: Magento2Config
    logger: logging.Logger
    locks: KeyedLocks = field(default_factory=KeyedLocks)
    slots: asyncio.Semaphore | None = None
    """Mutations in progress at once across the driver's batches (`run_in_key_order`)."""

    def __post_init__(self) -> None:
        if self.slots is None:
            self.slots = asyncio.Semaphore(self.config.max_concurrent_requests)

    @property
    def locales(self) -> Locales:
        return Locales(self.config.default_locale, dict(self.config.locale_stores))


def is_stale(mutation: MutationData, mapping: MappingData | None) -> bool:
    """Whether the mapping already reflects a newer version of the entity."""
    if mapping is None or mutation.version is None or not mapping.external_data:
        return False
    applied = mapping.external_data.get("version")
    return isinstance(applied, int) and mutation.version < applied


def data_of(mapping: MappingData | None) -> dict[str, Any]:
    """A mapping's external data as a plain dict (empty without a mapping or data)."""
    return dict(mapping.external_data or {}) if mapping is not None else {}


def version_data(mutation: MutationData) -> dict[str, int]:
    return {} if mutation.version is None else {"version": mutation.version}
