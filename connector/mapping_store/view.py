"""The in-memory state of one mapping topic, and the rule that orders writes into it (no I/O).

Representation (chosen by measurement, see `bench/mapping_bench.py`): one `dict` from the
record key bytes to the record value bytes exactly as read from Kafka (single-object header
included). That is ~190 B per mapping at 1M mappings (key ~80 B, value ~64 B, dict slot
~45 B) and costs nothing to build: `Message.key()`/`.value()` already allocated both objects.
Values are decoded only on `find`, behind a small cache in the store.

Ordering rule. Two writers update the dict: the tail (records read from the topic, in offset
order per partition) and this process's own writes, applied when the broker acknowledged
them (so `find` sees them at once). An own write lands at a known (partition, offset):

1. If the tail already read past that offset, the dict already holds that write or a newer
   one: the own write is not applied again.
2. Otherwise it is applied and remembered as *pending* for its key; until the tail reaches
   that offset, the tail skips records of that key at lower offsets (older values), and
   applies the own write's record or anything later, dropping the pending mark.

Thread safety. Mutations (tail batches, acked writes) hold `lock`; the check-and-apply of
the rule must be atomic. Lookups take no lock: `dict.get` runs entirely inside the
interpreter lock (CPython) or the dict's own lock (free-threaded builds), so a reader sees
either the old or the new value of a key, never a torn state, and the dict object is never
replaced, only mutated.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from connector.mapping_store.record import HEADER

__all__ = ["ApplyResult", "LogRecord", "MappingView"]


class LogRecord(Protocol):
    """What the view reads of a consumed record (`confluent_kafka.Message` has this shape)."""

    def error(self) -> object | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...


@dataclass(slots=True)
class ApplyResult:
    """What a tail batch held besides mappings: events (errors, end of partition) and
    records that are not mapping records (partition, offset, reason)."""

    applied: int = 0
    events: list[LogRecord] = field(default_factory=list)
    rejected: list[tuple[int, int, str]] = field(default_factory=list)


class MappingView:
    """Key bytes → framed value bytes, with per-partition read positions and the ordering rule."""

    def __init__(self) -> None:
        self._values: dict[bytes, bytes] = {}
        self._pending: dict[bytes, tuple[int, int]] = {}
        self._positions: dict[int, int] = {}
        self.lock = threading.Lock()
        self.get = self._values.get
        """Lock-free lookup: the framed value of a key, or None."""
        self.rejected_total = 0

    def __len__(self) -> int:
        return len(self._values)

    def positions(self) -> dict[int, int]:
        """Next offset to apply, per partition (what the tail has read so far)."""
        with self.lock:
            return dict(self._positions)

    def pending_count(self) -> int:
        """Own writes the tail has not yet read back."""
        return len(self._pending)

    def snapshot(self) -> dict[bytes, bytes]:
        """A consistent copy of the mappings (shares the key and value objects)."""
        with self.lock:
            return self._values.copy()

    def apply_log(self, records: Sequence[LogRecord]) -> ApplyResult:
        """Apply records read from the topic, in offset order; a null value deletes.

        Records with an error (end-of-partition events, broker errors) are returned untouched
        in `events`; records without a key of the form ``a:b`` or whose value is not framed
        with the MappingRecord header are skipped and listed in `rejected`.
        """
        result = ApplyResult()
        values = self._values
        pending = self._pending
        positions = self._positions
        header = HEADER
        applied = 0
        with self.lock:
            for record in records:
                if record.error() is not None:
                    result.events.append(record)
                    continue
                key = record.key()
                value = record.value()
                partition: Any = record.partition()
                offset: Any = record.offset()
                positions[partition] = offset + 1
                if pending and key in pending:
                    mark_partition, mark_offset = pending[key]
                    if mark_partition == partition:
                        if offset < mark_offset:
                            continue  # older than our acknowledged write (rule, step 2)
                        del pending[key]
                if key is None or b":" not in key:
                    result.rejected.append((partition, offset, "key is not '<type>:<uuid>'"))
                    continue
                if value is None:
                    values.pop(key, None)
                elif value.startswith(header):
                    values[key] = value
                else:
                    result.rejected.append((partition, offset, "value is not a MappingRecord"))
                    continue
                applied += 1
            self.rejected_total += len(result.rejected)
        result.applied = applied
        return result

    def apply_acked(self, key: bytes, value: bytes | None, partition: int, offset: int) -> bool:
        """Apply this process's own write, acknowledged at (partition, offset).

        Returns False when the tail had already read past it (rule, step 1), or when a later
        own write of the same key was applied first (two threads writing one key).
        """
        with self.lock:
            if self._positions.get(partition, 0) > offset:
                return False
            mark = self._pending.get(key)
            if mark is not None and mark[0] == partition and mark[1] > offset:
                return False  # a later own write of this key was acknowledged first
            if value is None:
                self._values.pop(key, None)
            else:
                self._values[key] = value
            self._pending[key] = (partition, offset)
            return True
