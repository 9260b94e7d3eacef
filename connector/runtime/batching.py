"""Batch assembly: fetched records in, driver-sized batches of one entity type out. No I/O.

A batch closes when it reaches `max_records` or `max_bytes`, or when its first record has
waited `linger` seconds, whichever comes first. Closed batches leave in the order they
closed, and records keep their fetch order inside a batch, so per-partition order holds as
long as batches are handled one after another (the runtime does).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from connector.kafka.records import ConsumedRecord

__all__ = ["Batch", "BatchAssembler"]


@dataclass(slots=True)
class Batch:
    entity_type: str
    records: list[ConsumedRecord] = field(default_factory=list)
    size_bytes: int = 0
    opened_at: float = 0.0

    def __len__(self) -> int:
        return len(self.records)


class BatchAssembler:
    """Groups records by entity type under count, byte and linger limits."""

    def __init__(self, *, max_records: int, max_bytes: int, linger_s: float) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.linger_s = linger_s
        self._open: dict[str, Batch] = {}
        self._closed: deque[Batch] = deque()
        self.buffered_records = 0
        self.buffered_bytes = 0

    def add(self, record: ConsumedRecord, now: float) -> None:
        batch = self._open.get(record.entity_type)
        size = record.size
        if batch is not None and batch.size_bytes + size > self.max_bytes and batch.records:
            self._close(batch)
            batch = None
        if batch is None:
            batch = Batch(record.entity_type, opened_at=now)
            self._open[record.entity_type] = batch
        batch.records.append(record)
        batch.size_bytes += size
        self.buffered_records += 1
        self.buffered_bytes += size
        if len(batch.records) >= self.max_records or batch.size_bytes >= self.max_bytes:
            self._close(batch)

    def _close(self, batch: Batch) -> None:
        del self._open[batch.entity_type]
        self._closed.append(batch)

    def next_batch(self, now: float) -> Batch | None:
        """The next batch to hand over, or None if no batch is full or has lingered enough."""
        if not self._closed:
            due = [b for b in self._open.values() if now - b.opened_at >= self.linger_s]
            if not due:
                return None
            for batch in sorted(due, key=lambda b: b.opened_at):
                self._close(batch)
        batch = self._closed.popleft()
        self.buffered_records -= len(batch.records)
        self.buffered_bytes -= batch.size_bytes
        return batch

    def next_deadline(self) -> float | None:
        """When the oldest open batch's linger expires (None if nothing is buffered)."""
        if self._closed:
            return 0.0
        if not self._open:
            return None
        return min(b.opened_at for b in self._open.values()) + self.linger_s

    def drop_partitions(self, partitions: Iterable[tuple[str, int]]) -> int:
        """Remove buffered records of revoked partitions; returns how many were dropped."""
        revoked = set(partitions)
        dropped = 0
        for batch in [*self._closed, *self._open.values()]:
            keep = [r for r in batch.records if (r.topic, r.partition) not in revoked]
            if len(keep) != len(batch.records):
                dropped += len(batch.records) - len(keep)
                self.buffered_records -= len(batch.records) - len(keep)
                removed_bytes = batch.size_bytes - sum(r.size for r in keep)
                self.buffered_bytes -= removed_bytes
                batch.records = keep
                batch.size_bytes -= removed_bytes
        self._closed = deque(b for b in self._closed if b.records)
        for entity_type in [t for t, b in self._open.items() if not b.records]:
            del self._open[entity_type]
        return dropped

    def clear(self) -> int:
        """Drop everything buffered (shutdown: unstarted records are simply not committed)."""
        dropped = self.buffered_records
        self._open.clear()
        self._closed.clear()
        self.buffered_records = 0
        self.buffered_bytes = 0
        return dropped
