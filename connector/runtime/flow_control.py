"""`FlowControl`: which partitions to stop fetching and when to fetch again. No I/O.

The runner holds fetched records until the driver takes them (the scheduler's queues: ready
keys, keys waiting behind their in-flight records, keys parked for a retry). Two marks bound
that memory:

* **high water** (`high_records` or `high_bytes` reached): the buffer is *full*. The runner
  first stops calling `consume` for a moment (`wait_before_pause_s`) and waits for room:
  a full buffer usually drains within milliseconds, and pausing throws away librdkafka's
  prefetched records (a pause purges its fetch queue), which at 1,000 records per consume
  held the runtime to ~2k records/s. If the buffer is still full after that, flow control
  *holds back*: it pauses the partitions that have records held, and only those.
* While holding back, a partition that delivers records is paused at the next turn, and
  every `rescan_s` a partition whose held records are all gone is resumed.
* **low water** (half of both marks): every paused partition resumes.

Why not pause everything: records parked for a retry count like any other (so a long
downstream outage holds a bounded number of records), and a key may wait for a record of
*another* partition — a product for its category, on the category topic. Pausing that
partition too would hold the record that unblocks the waiting keys until their retries run
out. So a partition with nothing held is never paused: the buffer may exceed its mark by
what such partitions deliver before their next turn (one consume, at most 1,000 records, per
turn).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Generic, NamedTuple, TypeVar

__all__ = ["FlowControl", "FlowPlan"]

P = TypeVar("P", bound=Hashable)


class FlowPlan(NamedTuple, Generic[P]):
    """Partitions to pause and to resume now (both empty: leave fetching as it is)."""

    pause: frozenset[P]
    resume: frozenset[P]


class FlowControl(Generic[P]):
    """Decides, turn by turn, which partitions to pause and resume; remembers them."""

    def __init__(
        self,
        *,
        high_records: int,
        high_bytes: int,
        wait_before_pause_s: float = 1.0,
        rescan_s: float = 0.2,
    ) -> None:
        if high_records < 2 or high_bytes < 2:
            raise ValueError("the high-water marks must be at least 2")
        self.high_records = high_records
        self.high_bytes = high_bytes
        self.wait_before_pause_s = wait_before_pause_s
        self.rescan_s = rescan_s
        self.holding = False
        """Whether flow control holds back (from the high to the low mark)."""
        self.paused: frozenset[P] = frozenset()
        self._next_scan = 0.0

    def full(self, records: int, size: int) -> bool:
        """Whether the buffer reached its high-water mark."""
        return records >= self.high_records or size >= self.high_bytes

    def plan(
        self,
        records: int,
        size: int,
        now: float,
        *,
        delivered: Iterable[P],
        held: Callable[[], Iterable[P]],
    ) -> FlowPlan[P]:
        """This turn's pauses and resumes, from the amounts held (`records`, `size`), the
        partitions the last fetch `delivered`, and `held()`: the partitions of the records
        held (called only when needed; it walks the buffer)."""
        none: frozenset[P] = frozenset()
        if not self.holding:
            if not self.full(records, size):
                return FlowPlan(none, none)
            self.holding = True
            self._next_scan = now + self.rescan_s
            self.paused = frozenset(held())
            return FlowPlan(self.paused, none)
        if records <= self.high_records // 2 and size <= self.high_bytes // 2:
            resume, self.paused, self.holding = self.paused, none, False
            return FlowPlan(none, resume)
        pause = frozenset(delivered) - self.paused
        resume = none
        if now >= self._next_scan:
            self._next_scan = now + self.rescan_s
            resume = self.paused - frozenset(held())
        self.paused = (self.paused | pause) - resume
        return FlowPlan(pause, resume)

    def forget(self, partitions: Iterable[P]) -> None:
        """Partitions that left (revoked or lost): paused no longer."""
        self.paused = self.paused - frozenset(partitions)
