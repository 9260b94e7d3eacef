"""What mapping writes put on the topic, decided from what the view holds now (no I/O).

A `ChangeSet` collects the records of one call (`create`, `create_many`, `delete_many`, ...):
each change is a key and a framed `MappingRecord` value, or None for a tombstone. Later
changes of the same call see the earlier ones, so a call that creates and then updates one
entity keeps its `created_at`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from connector.codec.errors import CodecError
from connector.mapping_store.record import MappingRecord, decode_record, encode_record, mapping_key
from contracts import thaw

__all__ = ["Change", "ChangeSet"]

Change = tuple[bytes, bytes | None]
"""(key, framed value), or (key, None) for a tombstone."""


class ChangeSet:
    """The changes of one call. `current` looks a key's framed value up in the view."""

    def __init__(self, current: Callable[[bytes], bytes | None], now_ms: int) -> None:
        self._current = current
        self._now_ms = now_ms
        self._pending: dict[bytes, bytes | None] = {}
        self.changes: list[Change] = []

    def value(self, key: bytes) -> bytes | None:
        """The key's value as this call leaves it so far."""
        if key in self._pending:
            return self._pending[key]
        return self._current(key)

    def create(
        self,
        entity_type: str,
        entity_uuid: str,
        external_id: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        """Record (or overwrite) a mapping; `created_at` is kept if the external id is the same."""
        if not isinstance(external_id, str) or not external_id:
            raise ValueError("external_id must be a non-empty string")
        key = mapping_key(entity_type, entity_uuid)
        created_at = self._now_ms
        previous = self._decoded_or_none(key)
        if previous is not None and previous.external_id == external_id:
            created_at = previous.created_at_ms
        data = None if external_data is None else thaw(external_data)
        self._add(key, encode_record(MappingRecord(external_id, data, created_at, self._now_ms)))

    def update(
        self, entity_type: str, entity_uuid: str, external_data: Mapping[str, Any] | None
    ) -> None:
        """Replace the external data of an existing mapping: `KeyError` if there is none,
        `CodecError` if the stored value is unreadable."""
        key = mapping_key(entity_type, entity_uuid)
        value = self.value(key)
        if value is None:
            raise KeyError(f"no mapping for {entity_type}:{entity_uuid}")
        previous = decode_record(value)
        data = None if external_data is None else thaw(external_data)
        record = MappingRecord(previous.external_id, data, previous.created_at_ms, self._now_ms)
        self._add(key, encode_record(record))

    def delete(self, entity_type: str, entity_uuid: str) -> bool:
        """Remove a mapping (a tombstone); False, and no change, if there is none."""
        key = mapping_key(entity_type, entity_uuid)
        if self.value(key) is None:
            return False
        self._add(key, None)
        return True

    def _add(self, key: bytes, value: bytes | None) -> None:
        self._pending[key] = value
        self.changes.append((key, value))

    def _decoded_or_none(self, key: bytes) -> MappingRecord | None:
        value = self.value(key)
        if value is None:
            return None
        try:
            return decode_record(value)
        except CodecError:
            return None  # overwritten by the caller's valid record
