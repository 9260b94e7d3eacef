"""`KeyScheduler`: which records may be handed to the driver next. A state machine, no I/O.

Records are grouped by an *ordering key* (the entity UUID, i.e. the Kafka record key, with
``ordering: key``; the partition with ``ordering: partition``). The scheduler keeps, per
key, the records not handed over yet, in the order they were fetched, and guarantees:

1. **One work per key at a time.** A key whose records are in flight is *busy*: its later
   records wait until the work that holds its earlier ones completes. Two works never hold
   records of one key, so a key's records are handled in offset order.
2. **Batches of one entity type within the limits.** A work takes the leading records of
   ready keys whose head record has the same entity type, up to `max_records` and
   `max_bytes` (a single larger record still forms a work of its own). With
   `one_key_per_work` (drivers that implement only `handle`) a work holds one key's records.
3. **Linger.** A work that could not be filled is handed over once its oldest ready key has
   waited `linger_s`, or at once when `flush_partial()` says nothing more is coming (the last
   fetch was empty): lingering only pays while records are flowing.
4. **A failing key blocks only itself.** `complete` takes the records to retry back, in front
   of their keys' queues, with a time before which they may not run; those keys are
   *blocked* and others go on. Records retried together form a *retry group*: its keys are
   batched only with each other (never with fresh keys, which a failing key would otherwise
   fail too), and the caller may split a group that keeps failing, so that a bad key ends up
   alone while the others of its first batch get through.

Fairness: ready keys are served in the order they became ready; among entity types and retry
groups, the one whose oldest ready key has waited longest goes first.

Everything the scheduler holds (ready, blocked and busy keys' queues) counts towards
`queued_records`/`queued_bytes`, which the runner's flow control bounds by pausing fetching.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

from connector.kafka.records import ConsumedRecord

__all__ = ["KeyScheduler", "RetryGroup", "Work"]

_FRESH = 0
"""The group of keys that are not being retried."""

_Bucket = tuple[str, int]
"""(entity type of the head record, retry group)."""


@dataclass(slots=True, eq=False)
class Work:
    """Records handed over together: one entity type, leading records of distinct keys."""

    entity_type: str
    records: list[ConsumedRecord]
    keys: list[Hashable]
    size_bytes: int
    retry: bool
    """Whether these are records of a retry group (some failed before)."""
    waited_s: float = 0.0
    """The longest wait of its keys: from a key's oldest record's arrival (or the key's
    release by its previous work) to this hand-over."""


@dataclass(frozen=True, slots=True)
class RetryGroup:
    """Records to run again, not before `not_before` (the clock `take` and `complete` get)."""

    records: Sequence[ConsumedRecord]
    not_before: float


class _Key:
    __slots__ = ("blocked_until", "busy", "bytes", "group", "key", "queue", "ready_at", "since")

    def __init__(self, key: Hashable, now: float) -> None:
        self.key = key
        self.queue: deque[ConsumedRecord] = deque()
        self.bytes = 0
        self.busy = False
        self.group = _FRESH
        self.blocked_until = 0.0
        self.ready_at = now
        self.since = now
        """When the key's oldest waiting record arrived (kept across retries)."""


class KeyScheduler:
    """Per-key queues, ready buckets and blocked keys; see the module docstring."""

    def __init__(
        self,
        *,
        max_records: int,
        max_bytes: int,
        linger_s: float,
        key_of: Callable[[ConsumedRecord], Hashable],
        one_key_per_work: bool = False,
    ) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.linger_s = linger_s
        self._key_of = key_of
        self._one_key = one_key_per_work
        self._keys: dict[Hashable, _Key] = {}
        self._buckets: dict[_Bucket, deque[_Key]] = {}
        self._bucket_records: dict[_Bucket, int] = {}
        self._bucket_bytes: dict[_Bucket, int] = {}
        self._blocked: list[tuple[float, int, _Key]] = []
        self._seq = itertools.count()
        self._groups = itertools.count(1)
        self._flush = False
        self.queued_records = 0
        """Records held: ready, blocked, and waiting behind a busy key."""
        self.queued_bytes = 0
        self.blocked_keys = 0
        """Keys waiting for a retry."""
        self.busy_keys = 0

    # -- input ------------------------------------------------------------------------------
    def add(self, record: ConsumedRecord, now: float) -> None:
        """Queue a fetched record behind the earlier records of its key."""
        key = self._key_of(record)
        size = record.size
        self.queued_records += 1
        self.queued_bytes += size
        state = self._keys.get(key)
        if state is None:
            # The common case (a key not held yet): a new key, ready at once.
            state = self._keys[key] = _Key(key, now)
            state.queue.append(record)
            state.bytes = size
            self._make_ready(state, now)
            return
        state.queue.append(record)
        state.bytes += size
        if state.busy or state.blocked_until:
            return
        if len(state.queue) == 1:
            state.since = now
            self._make_ready(state, now)
        else:
            bucket = (state.queue[0].entity_type, state.group)
            self._bucket_records[bucket] += 1
            self._bucket_bytes[bucket] += size

    def flush_partial(self, flush: bool) -> None:
        """Whether partial works may go at once (the last fetch found nothing more)."""
        self._flush = flush

    # -- output -----------------------------------------------------------------------------
    def take(self, now: float) -> Work | None:
        """The next work that is due, or None. Its keys are busy until `complete`."""
        self._wake(now)
        bucket = self._due_bucket(now)
        if bucket is None:
            return None
        entity_type, group = bucket
        ready = self._buckets[bucket]
        max_records, max_bytes = self.max_records, self.max_bytes
        records: list[ConsumedRecord] = []
        keys: list[Hashable] = []
        waited = 0.0
        size = 0
        while ready and len(records) < max_records:
            state = ready[0]
            if records and size + state.queue[0].size > max_bytes:
                break
            ready.popleft()
            self._bucket_records[bucket] -= len(state.queue)
            self._bucket_bytes[bucket] -= state.bytes
            state.busy = True
            self.busy_keys += 1
            keys.append(state.key)
            waited = max(waited, now - state.since)
            queue = state.queue
            while queue and len(records) < max_records:
                record = queue[0]
                record_size = record.size
                if record.entity_type != entity_type or (
                    records and size + record_size > max_bytes
                ):
                    break
                queue.popleft()
                records.append(record)
                size += record_size
                state.bytes -= record_size
            if queue:
                state.since = now
            if self._one_key:
                break
        if not ready:
            self._drop_bucket(bucket)
        self.queued_records -= len(records)
        self.queued_bytes -= size
        return Work(entity_type, records, keys, size, group != _FRESH, waited)

    def complete(self, work: Work, retries: Iterable[RetryGroup] = (), now: float = 0.0) -> None:
        """The work is over: release its keys; `retries` go back in front of their keys,
        each group blocked until its `not_before`."""
        retried: set[Hashable] = set()
        for group in retries:
            if not group.records:
                continue
            group_id = next(self._groups)
            by_key: dict[Hashable, list[ConsumedRecord]] = {}
            for record in group.records:
                by_key.setdefault(self._key_of(record), []).append(record)
            for key, records in by_key.items():
                state = self._keys.get(key)
                if state is None:
                    state = self._keys[key] = _Key(key, now)
                state.queue.extendleft(reversed(records))
                size = sum(r.size for r in records)
                state.bytes += size
                self.queued_records += len(records)
                self.queued_bytes += size
                if not state.busy:  # a key of another work: it must not overtake it
                    self._unready(state)
                state.group = group_id
                if not state.blocked_until:
                    self.blocked_keys += 1
                state.blocked_until = max(group.not_before, now, 1e-9)
                heapq.heappush(self._blocked, (state.blocked_until, next(self._seq), state))
                retried.add(key)
        for key in work.keys:
            state = self._keys.get(key)
            if state is None or not state.busy:
                continue
            state.busy = False
            self.busy_keys -= 1
            if key in retried:
                continue
            state.group = _FRESH
            if state.queue:
                self._make_ready(state, now)
            else:
                del self._keys[key]

    def next_deadline(self) -> float | None:
        """When `take` may next have something (None: only new records can change that)."""
        times: list[float] = []
        if self._blocked:
            times.append(self._blocked[0][0])
        for (_, group), ready in self._buckets.items():
            if not ready:
                continue
            if group != _FRESH or self._flush or self._full((_, group)):
                return 0.0
            times.append(ready[0].ready_at + self.linger_s)
        return min(times, default=None)

    def held_partitions(self) -> set[tuple[str, int]]:
        """The partitions of every record held (not yet handed over, or parked for a retry)."""
        return {(r.topic, r.partition) for state in self._keys.values() for r in state.queue}

    # -- rebalances ---------------------------------------------------------------------------
    def drop_partitions(self, partitions: Iterable[tuple[str, int]]) -> int:
        """Forget the held records of revoked partitions; returns how many were dropped."""
        leaving = set(partitions)
        dropped = 0
        for state in list(self._keys.values()):
            keep = deque(r for r in state.queue if (r.topic, r.partition) not in leaving)
            if len(keep) == len(state.queue):
                continue
            dropped += len(state.queue) - len(keep)
            state.queue = keep
            state.bytes = sum(r.size for r in keep)
            if not keep and not state.busy:
                if state.blocked_until:
                    self.blocked_keys -= 1
                del self._keys[state.key]
        if dropped:
            self._rebuild()
        return dropped

    def clear(self) -> int:
        """Forget every held record (shutdown); busy keys stay busy until `complete`."""
        dropped = self.queued_records
        for state in list(self._keys.values()):
            state.queue.clear()
            state.bytes = 0
            if not state.busy:
                if state.blocked_until:
                    self.blocked_keys -= 1
                del self._keys[state.key]
        self._rebuild()
        return dropped

    # -- internals ----------------------------------------------------------------------------
    def _make_ready(self, state: _Key, now: float) -> None:
        bucket = (state.queue[0].entity_type, state.group)
        ready = self._buckets.get(bucket)
        if ready is None:
            ready = self._buckets[bucket] = deque()
            self._bucket_records[bucket] = 0
            self._bucket_bytes[bucket] = 0
        state.ready_at = now
        ready.append(state)
        self._bucket_records[bucket] += len(state.queue)
        self._bucket_bytes[bucket] += state.bytes

    def _unready(self, state: _Key) -> None:
        """Take a ready key out of its bucket (a retry sends it back to wait)."""
        for bucket, ready in self._buckets.items():
            if state in ready:
                ready.remove(state)
                self._bucket_records[bucket] -= len(state.queue)
                self._bucket_bytes[bucket] -= state.bytes
                if not ready:
                    self._drop_bucket(bucket)
                return

    def _drop_bucket(self, bucket: _Bucket) -> None:
        del self._buckets[bucket]
        del self._bucket_records[bucket]
        del self._bucket_bytes[bucket]

    def _full(self, bucket: _Bucket) -> bool:
        return (
            self._bucket_records[bucket] >= self.max_records
            or self._bucket_bytes[bucket] >= self.max_bytes
        )

    def _due_bucket(self, now: float) -> _Bucket | None:
        best: _Bucket | None = None
        best_at = 0.0
        for bucket, ready in self._buckets.items():
            at = ready[0].ready_at
            if best is not None and at >= best_at:
                continue
            if (
                bucket[1] != _FRESH
                or self._flush
                or self._one_key
                or now - at >= self.linger_s
                or self._full(bucket)
            ):
                best, best_at = bucket, at
        return best

    def _wake(self, now: float) -> None:
        blocked = self._blocked
        while blocked and blocked[0][0] <= now:
            until, _, state = heapq.heappop(blocked)
            if state.blocked_until != until or self._keys.get(state.key) is not state:
                continue  # superseded entry
            state.blocked_until = 0.0
            self.blocked_keys -= 1
            if state.busy:
                continue
            if state.queue:
                self._make_ready(state, now)
            else:
                del self._keys[state.key]

    def _rebuild(self) -> None:
        """Recompute buckets and counters from the keys (after records were dropped)."""
        self._buckets.clear()
        self._bucket_records.clear()
        self._bucket_bytes.clear()
        self.queued_records = sum(len(s.queue) for s in self._keys.values())
        self.queued_bytes = sum(s.bytes for s in self._keys.values())
        ready = sorted(
            (s for s in self._keys.values() if s.queue and not s.busy and not s.blocked_until),
            key=lambda s: s.ready_at,
        )
        for state in ready:
            self._make_ready(state, state.ready_at)
