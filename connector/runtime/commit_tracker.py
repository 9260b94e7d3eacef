"""Which offsets may be committed: a pure state machine, no Kafka.

Records of a partition are *received* in offset order and *finished* (handled, or durably
dead-lettered) possibly out of order. The committable position of a partition is the offset
of its first unfinished record, or one past the last received record when all are finished.
Offsets need not be contiguous (compaction, transaction markers), so the tracker keeps the
received offsets themselves rather than assuming `offset + 1` follows::

    received  10 11 14 15 16
    finished   x  x     x      -> committable 14 (14 is not finished)
    finish 14                  -> committable 16
    finish 16                  -> committable 17 (all done: one past the last received)

Each partition carries an assignment *generation*. Revoking a partition forgets it;
`finish` calls for a generation that is no longer current are ignored, so a batch that
completes after its partition moved to another consumer can never commit for it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["CommitTracker", "TopicPartitionKey"]

TopicPartitionKey = tuple[str, int]


@dataclass(slots=True)
class _PartitionState:
    generation: int
    pending: deque[int] = field(default_factory=deque)
    finished: set[int] = field(default_factory=set)
    last_received: int = -1
    committable: int | None = None
    committed: int | None = None


class CommitTracker:
    """Tracks received and finished offsets per partition; thread-safe (one small lock)."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartitionKey, _PartitionState] = {}
        self._generation = 0
        self._lock = threading.Lock()

    # -- assignment -----------------------------------------------------------------------
    def assign(self, partitions: list[TopicPartitionKey]) -> int:
        """Start tracking `partitions`; returns their generation."""
        with self._lock:
            self._generation += 1
            for tp in partitions:
                self._partitions[tp] = _PartitionState(self._generation)
            return self._generation

    def revoke(self, partitions: list[TopicPartitionKey]) -> None:
        with self._lock:
            for tp in partitions:
                self._partitions.pop(tp, None)

    def generation(self, tp: TopicPartitionKey) -> int | None:
        state = self._partitions.get(tp)
        return state.generation if state is not None else None

    def generations(self) -> dict[TopicPartitionKey, int]:
        """The current generation of every assigned partition (a snapshot: one lock per batch
        instead of one per record)."""
        with self._lock:
            return {tp: state.generation for tp, state in self._partitions.items()}

    def assigned(self) -> list[TopicPartitionKey]:
        with self._lock:
            return list(self._partitions)

    # -- records ----------------------------------------------------------------------------
    def receive(self, tp: TopicPartitionKey, offset: int) -> int | None:
        """Note a fetched record; returns the generation to tag it with (None: not assigned)."""
        with self._lock:
            state = self._partitions.get(tp)
            if state is None:
                return None
            if offset <= state.last_received:
                # A re-fetch after a seek: the old entries are superseded by the new fetch.
                self._drop_from(state, offset)
            state.pending.append(offset)
            state.last_received = offset
        return state.generation

    def finish(self, tp: TopicPartitionKey, offset: int, generation: int) -> bool:
        """Mark one record done. False (and no effect) if its generation is stale."""
        return self.finish_many([(tp, offset, generation)]) == 1

    def finish_many(self, records: Iterable[tuple[TopicPartitionKey, int, int]]) -> int:
        """Mark records (partition, offset, generation) done; returns how many counted.

        One lock and one advance of each partition's committable position per call, rather
        than per record: a batch finishes hundreds of records at once.
        """
        touched: dict[TopicPartitionKey, _PartitionState] = {}
        counted = 0
        with self._lock:
            partitions = self._partitions
            for tp, offset, generation in records:
                state = touched.get(tp) or partitions.get(tp)
                if state is None or state.generation != generation:
                    continue  # revoked, or revoked and assigned again: not ours to commit
                state.finished.add(offset)
                touched[tp] = state
                counted += 1
            for state in touched.values():
                pending, finished = state.pending, state.finished
                while pending and pending[0] in finished:
                    finished.discard(pending.popleft())
                state.committable = pending[0] if pending else state.last_received + 1
        return counted

    @staticmethod
    def _drop_from(state: _PartitionState, offset: int) -> None:
        while state.pending and state.pending[-1] >= offset:
            state.finished.discard(state.pending.pop())
        state.last_received = state.pending[-1] if state.pending else offset - 1
        if state.committable is not None and state.committable > offset:
            state.committable = offset

    # -- commits ----------------------------------------------------------------------------
    def committable(
        self, partitions: list[TopicPartitionKey] | None = None
    ) -> dict[TopicPartitionKey, int]:
        """Positions that may be committed and are newer than the last recorded commit."""
        with self._lock:
            out: dict[TopicPartitionKey, int] = {}
            for tp, state in self._partitions.items():
                if partitions is not None and tp not in partitions:
                    continue
                if state.committable is not None and state.committable != state.committed:
                    out[tp] = state.committable
            return out

    def mark_committed(self, offsets: dict[TopicPartitionKey, int]) -> None:
        with self._lock:
            for tp, offset in offsets.items():
                state = self._partitions.get(tp)
                if state is not None:
                    state.committed = offset

    def in_flight(self, tp: TopicPartitionKey) -> int:
        """Records received but not finished."""
        state = self._partitions.get(tp)
        return len(state.pending) if state is not None else 0
