"""`FlowControl`: when to stop fetching and when to fetch again. A state machine, no I/O.

The runner holds fetched records until the driver takes them (the scheduler's queues: ready
keys, keys waiting behind their in-flight records, keys parked for a retry). Two marks bound
that memory:

* **high water** (`high_records` or `high_bytes` reached): the buffer is *full*. The runner
  first stops calling `consume` for a moment (`wait_before_pause_s`) and waits for room:
  a full buffer usually drains within milliseconds, and pausing throws away librdkafka's
  prefetched records (a pause purges its fetch queue), which at 1,000 records per consume
  held the runtime to ~2k records/s. If the buffer is still full after that, the partitions
  are *paused*; consuming goes on (to serve rebalances and heartbeats) but fetches nothing.
* **low water** (half of both marks): a paused runner resumes.

Records parked for a retry count like any other: many failing keys fill the buffer and stop
fetching, so a long downstream outage holds a bounded number of records in memory.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["FlowControl", "FlowDecision"]


class FlowDecision(Enum):
    PAUSE = "pause"
    RESUME = "resume"


class FlowControl:
    """Decides pause/resume from the buffered amounts; remembers whether it paused."""

    def __init__(
        self, *, high_records: int, high_bytes: int, wait_before_pause_s: float = 1.0
    ) -> None:
        if high_records < 2 or high_bytes < 2:
            raise ValueError("the high-water marks must be at least 2")
        self.high_records = high_records
        self.high_bytes = high_bytes
        self.wait_before_pause_s = wait_before_pause_s
        self.paused = False

    def full(self, records: int, size: int) -> bool:
        """Whether the buffer reached its high-water mark."""
        return records >= self.high_records or size >= self.high_bytes

    def decide(self, records: int, size: int) -> FlowDecision | None:
        """PAUSE when full and not paused, RESUME when paused and below the low-water mark,
        else None (leave fetching as it is)."""
        if not self.paused and self.full(records, size):
            self.paused = True
            return FlowDecision.PAUSE
        if self.paused and records <= self.high_records // 2 and size <= self.high_bytes // 2:
            self.paused = False
            return FlowDecision.RESUME
        return None

    def reset(self) -> None:
        """Forget a pause (the consumer is new or closed)."""
        self.paused = False
