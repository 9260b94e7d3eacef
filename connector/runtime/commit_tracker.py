"""Which offsets may be committed: a pure state machine, no Kafka.

Records of a partition are *received* in offset order and *finished* (handled, or durably
dead-lettered) possibly out of order. The committable position of a partition is the offset
of its first unfinished record, or one past the last received record when all are finished.
Offsets need not be contiguous (compaction, transaction markers), so the tracker keeps the
received offsets themselves rather than assuming `offset + 1` follows::

    received  10 11 14 15 16
    finished   x  x     x      -> position 14 (14 is not finished), done above it: {15}
    finish 14                  -> position 16
    finish 16                  -> position 17 (all done: one past the last received)

A `CommitPoint` is the position plus the offsets above it that are finished already (`done`).
Committed with the position (as offset-commit metadata, see `connector.runtime.offset_map`),
`done` lets the next owner of the partition skip them: with records of different keys
finishing out of order, a restart or a rebalance then redelivers only what was unfinished,
not everything above the position (the idea of Parallel Consumer's offset map).
`assign(..., done=...)` takes such a set back; `receive` reports those records as
`ALREADY_DONE`.

Each partition carries an assignment *generation*. Revoking a partition forgets it;
`finish` calls for a generation that is no longer current are ignored, so a batch that
completes after its partition moved to another consumer can never commit for it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["ALREADY_DONE", "CommitPoint", "CommitTracker", "TopicPartitionKey"]

TopicPartitionKey = tuple[str, int]

ALREADY_DONE = 0
"""What `receive` returns for a record the previous owner finished (generations start at 1)."""


@dataclass(frozen=True, slots=True)
class CommitPoint:
    """What to commit for one partition."""

    offset: int
    """The first unfinished offset, or one past the last received one."""
    done: frozenset[int]
    """Finished offsets above `offset`."""
    version: int
    """Changes whenever `offset` or `done` does (to tell what was committed already)."""


@dataclass(slots=True)
class _PartitionState:
    generation: int
    pending: deque[int] = field(default_factory=deque)
    finished: set[int] = field(default_factory=set)
    skip: set[int] = field(default_factory=set)
    """Offsets a previous owner finished (from the committed metadata), not received yet."""
    last_received: int = -1
    committable: int | None = None
    version: int = 0
    committed_version: int | None = None

    def advance(self) -> None:
        pending, finished = self.pending, self.finished
        while pending and pending[0] in finished:
            finished.discard(pending.popleft())
        self.committable = pending[0] if pending else self.last_received + 1
        self.version += 1

    def point(self) -> CommitPoint:
        assert self.committable is not None
        return CommitPoint(self.committable, frozenset(self.finished), self.version)


class CommitTracker:
    """Tracks received and finished offsets per partition; thread-safe (one small lock)."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartitionKey, _PartitionState] = {}
        self._generation = 0
        self._lock = threading.Lock()

    # -- assignment -----------------------------------------------------------------------
    def assign(
        self,
        partitions: list[TopicPartitionKey],
        done: Mapping[TopicPartitionKey, Iterable[int]] | None = None,
    ) -> int:
        """Start tracking `partitions`; returns their generation. `done`: offsets above the
        committed position that a previous owner finished (they will be skipped)."""
        with self._lock:
            self._generation += 1
            for tp in partitions:
                state = _PartitionState(self._generation)
                if done is not None and tp in done:
                    state.skip = set(done[tp])
                self._partitions[tp] = state
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
        """Note a fetched record; returns the generation to tag it with, `ALREADY_DONE` if a
        previous owner finished it (do not handle it again), or None if not assigned."""
        return self.receive_many([(tp, offset)])[0]

    def receive_many(self, records: list[tuple[TopicPartitionKey, int]]) -> list[int | None]:
        """`receive` for a fetch's records, in fetch order, under one lock."""
        out: list[int | None] = []
        append = out.append
        with self._lock:
            partitions = self._partitions
            for tp, offset in records:
                state = partitions.get(tp)
                if state is None:
                    append(None)
                    continue
                if offset <= state.last_received:
                    # A re-fetch after a seek: the old entries are superseded by the new fetch.
                    self._drop_from(state, offset)
                state.pending.append(offset)
                state.last_received = offset
                if state.skip and offset in state.skip:
                    state.skip.discard(offset)
                    state.finished.add(offset)
                    state.advance()
                    append(ALREADY_DONE)
                else:
                    append(state.generation)
        return out

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
                state.advance()
        return counted

    @staticmethod
    def _drop_from(state: _PartitionState, offset: int) -> None:
        while state.pending and state.pending[-1] >= offset:
            state.finished.discard(state.pending.pop())
        state.last_received = state.pending[-1] if state.pending else offset - 1
        if state.committable is not None and state.committable > offset:
            state.committable = offset
        state.version += 1

    # -- commits ----------------------------------------------------------------------------
    def committable(
        self, partitions: list[TopicPartitionKey] | None = None
    ) -> dict[TopicPartitionKey, CommitPoint]:
        """Commit points that changed since the last recorded commit."""
        with self._lock:
            return {
                tp: state.point()
                for tp, state in self._partitions.items()
                if state.committable is not None
                and state.version != state.committed_version
                and (partitions is None or tp in partitions)
            }

    def positions(
        self, partitions: list[TopicPartitionKey] | None = None
    ) -> dict[TopicPartitionKey, CommitPoint]:
        """Every commit point, whether or not a commit of it was sent already (a synchronous
        commit at revoke or shutdown must not trust one still in flight)."""
        with self._lock:
            return {
                tp: state.point()
                for tp, state in self._partitions.items()
                if state.committable is not None and (partitions is None or tp in partitions)
            }

    def mark_committed(self, points: Mapping[TopicPartitionKey, CommitPoint]) -> None:
        with self._lock:
            for tp, point in points.items():
                state = self._partitions.get(tp)
                if state is not None:
                    state.committed_version = point.version

    def forget_committed(self, points: Mapping[TopicPartitionKey, CommitPoint]) -> None:
        """A commit of `points` failed: report them as committable again."""
        with self._lock:
            for tp, point in points.items():
                state = self._partitions.get(tp)
                if state is not None and state.committed_version == point.version:
                    state.committed_version = None

    def forget_partitions(self, partitions: list[TopicPartitionKey]) -> None:
        """A commit of these partitions failed: their current points are committable again."""
        with self._lock:
            for tp in partitions:
                state = self._partitions.get(tp)
                if state is not None:
                    state.committed_version = None

    def in_flight(self, tp: TopicPartitionKey) -> int:
        """Records received but not finished."""
        state = self._partitions.get(tp)
        return len(state.pending) if state is not None else 0
