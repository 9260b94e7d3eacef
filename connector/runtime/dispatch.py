"""`Dispatcher`: runs works from the scheduler, up to `concurrency` at once.

1. `fill` takes due works from the `KeyScheduler` while fewer than `concurrency` run, and
   starts each as a task running `WorkHandler.run`.
2. When a task ends, its finished records are marked in the `CommitTracker` (a record of a
   partition revoked meanwhile is ignored there), its retries go back to the scheduler
   (those of revoked partitions are dropped), and its keys are released.
3. A task that raised (a fatal error) stops the integration: `failed` is set and `run` raises.
4. `quiesce` (revoke) and `drain` (shutdown) wait, within a grace period, for the works that
   hold records of the leaving partitions (or all works), then cancel what is left: work
   for partitions that moved would only duplicate their new owner's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from connector.metrics import METRICS, ConnectorMetrics
from connector.runtime.commit_tracker import CommitTracker, TopicPartitionKey
from connector.runtime.handling import WorkResult
from connector.runtime.scheduling import KeyScheduler, RetryGroup, Work

__all__ = ["Dispatcher"]

_CANCEL_WAIT_S = 1.0
"""How long `drain` waits for cancelled works to end."""


class WorkRunner(Protocol):
    """What runs a work to its result: `WorkHandler` (tests may pass their own)."""

    async def run(self, work: Work) -> WorkResult: ...


class Dispatcher:
    """Concurrent works of one integration; see the module docstring."""

    def __init__(
        self,
        *,
        scheduler: KeyScheduler,
        handler: WorkRunner,
        tracker: CommitTracker,
        concurrency: int,
        label: str,
        metrics: ConnectorMetrics = METRICS,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_room: Callable[[], None] = lambda: None,
    ) -> None:
        self._scheduler = scheduler
        self._handler = handler
        self._tracker = tracker
        self.concurrency = concurrency
        self._label = label
        self._metrics = metrics
        self.log = logger or logging.getLogger("iec.runtime.dispatch")
        self._clock = clock
        self._on_room = on_room
        self._tasks: dict[asyncio.Task[WorkResult], Work] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self.wakeup = asyncio.Event()
        self.failed: BaseException | None = None
        self.records_in_flight = 0
        self._in_flight_gauge = metrics.records_in_flight.labels(label)
        self._buffered_gauge = metrics.records_buffered.labels(label)
        self._waiting_gauge = metrics.keys_waiting.labels(label)
        self._key_wait = metrics.key_wait.labels(label)

    @property
    def works(self) -> int:
        return len(self._tasks)

    async def run(self, stopping: Callable[[], bool]) -> None:
        """Start works as they become due, until `stopping()`; raises a work's fatal error."""
        scheduler = self._scheduler
        while not stopping():
            self.fill()
            if self.failed is not None:
                raise self.failed
            deadline = scheduler.next_deadline() if len(self._tasks) < self.concurrency else None
            # At least a millisecond: never spin, whatever the deadline says.
            timeout = 0.5 if deadline is None else max(0.001, deadline - self._clock())
            self.wakeup.clear()
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout=min(timeout, 0.5))
            except TimeoutError:
                # Python 3.11's wait_for turns a cancellation that meets the timeout into
                # TimeoutError: the task would loop on, "cancelling" forever.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise asyncio.CancelledError from None

    def fill(self) -> None:
        """1. Start due works while there is room."""
        scheduler = self._scheduler
        now = self._clock()
        started = False
        while len(self._tasks) < self.concurrency and self.failed is None:
            work = scheduler.take(now)
            if work is None:
                break
            started = True
            task = asyncio.create_task(self._handler.run(work), name=f"work-{self._label[:8]}")
            self._tasks[task] = work
            self.records_in_flight += len(work.records)
            task.add_done_callback(self._done)
            self._idle.clear()
            self._key_wait.observe(work.waited_s)
        if started:
            self.publish_gauges()
            self._on_room()

    def _done(self, task: asyncio.Task[WorkResult]) -> None:
        """2./3. A work ended."""
        work = self._tasks.pop(task)
        self.records_in_flight -= len(work.records)
        now = self._clock()
        if task.cancelled():
            self.log.warning("abandoned a work of %d record(s)", len(work.records))
            self._scheduler.complete(work, now=now)
        elif (error := task.exception()) is not None:
            self.failed = error
            self._scheduler.complete(work, now=now)
        else:
            result = task.result()
            self._tracker.finish_many(
                ((r.topic, r.partition), r.offset, r.generation) for r in result.finished
            )
            self._scheduler.complete(work, self._current(result.retries), now=now)
        if not self._tasks:
            self._idle.set()
        self.publish_gauges()
        self.wakeup.set()

    def _current(self, retries: Iterable[RetryGroup]) -> list[RetryGroup]:
        """Retries without records of partitions revoked meanwhile."""
        generations = self._tracker.generations()
        out: list[RetryGroup] = []
        for group in retries:
            records = [
                r for r in group.records if generations.get((r.topic, r.partition)) == r.generation
            ]
            if records:
                out.append(RetryGroup(records, group.not_before))
        return out

    def publish_gauges(self) -> None:
        s = self._scheduler
        self._in_flight_gauge.set(self.records_in_flight)
        self._buffered_gauge.set(s.queued_records)
        self._waiting_gauge.set(s.blocked_keys)

    async def quiesce(self, partitions: list[TopicPartitionKey], grace_s: float) -> None:
        """4. Wait for the works holding records of `partitions`; cancel the ones that hold
        nothing else once `grace_s` has passed. Records of `partitions` that works ending
        meanwhile hand back for a retry are dropped: they must not run once the partitions
        are another member's."""
        leaving = set(partitions)

        def holding() -> list[asyncio.Task[WorkResult]]:
            return [
                task
                for task, work in self._tasks.items()
                if any((r.topic, r.partition) in leaving for r in work.records)
            ]

        tasks = holding()
        if not tasks:
            return
        await asyncio.wait(tasks, timeout=grace_s)
        self._scheduler.drop_partitions(partitions)
        for task in holding():
            work = self._tasks[task]
            if all((r.topic, r.partition) in leaving for r in work.records):
                # Still retrying (downstream down?) for partitions we no longer own.
                task.cancel()

    async def drain(self, grace_s: float) -> None:
        """4. Wait for every work (at most `grace_s`), then cancel the rest."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace_s)
        if self._tasks:
            self.log.warning(
                "%d work(s) did not finish within %.1fs; abandoning them", len(self._tasks), grace_s
            )
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            # Async calls end at once; a sync call that has started keeps its work until its
            # thread ends (`DriverInvoker`): shutdown goes on without it (commits, leaving
            # the group), and the process exits when the thread does.
            _, running = await asyncio.wait(tasks, timeout=_CANCEL_WAIT_S)
            if running:
                self.log.warning(
                    "%d sync driver call(s) still running; the process ends when they do",
                    len(running),
                )
