"""Dispatcher without Kafka: what may still run once partitions leave."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry

from connector.kafka.records import ConsumedRecord
from connector.metrics import ConnectorMetrics
from connector.runtime.commit_tracker import CommitTracker
from connector.runtime.dispatch import Dispatcher
from connector.runtime.handling import WorkResult
from connector.runtime.runner import ordering_key
from connector.runtime.scheduling import KeyScheduler, RetryGroup, Work

TP = ("t.product", 0)


class FailingDownstream:
    """Every work fails transiently: its records come back for a retry 50 ms later."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    async def run(self, work: Work) -> WorkResult:
        self.calls.append([r.offset for r in work.records])
        await asyncio.sleep(0.05)
        return WorkResult([], [RetryGroup(work.records, time.monotonic() + 0.05)])


async def test_records_handed_back_during_a_revoke_never_run_again() -> None:
    tracker = CommitTracker()
    tracker.assign([TP])
    scheduler = KeyScheduler(
        max_records=10, max_bytes=10**6, linger_s=0, key_of=ordering_key("key")
    )
    downstream = FailingDownstream()
    dispatcher = Dispatcher(
        scheduler=scheduler,
        handler=downstream,
        tracker=tracker,
        concurrency=4,
        label="test",
        metrics=ConnectorMetrics(CollectorRegistry()),
    )
    for offset in range(3):
        generation = tracker.receive(TP, offset)
        assert generation is not None
        record = ConsumedRecord(
            TP[0], 0, offset, f"k{offset}".encode(), b"v", None, 0, generation, None, "product"
        )
        scheduler.add(record, time.monotonic())
    dispatcher.fill()
    await asyncio.sleep(0.01)
    assert downstream.calls == [[0, 1, 2]]
    # the revoke protocol: quiesce (the work fails within the grace), then forget
    await dispatcher.quiesce([TP], grace_s=5.0)
    tracker.revoke([TP])
    assert (scheduler.queued_records, scheduler.blocked_keys) == (0, 0)
    await asyncio.sleep(0.15)  # past the retry's backoff
    dispatcher.fill()
    await asyncio.sleep(0.01)
    assert downstream.calls == [[0, 1, 2]]
    assert dispatcher.works == 0
