"""DriverInvoker without Kafka: deadlines, async timeouts that cancel, sync ones waited for."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry

from connector.metrics import ConnectorMetrics
from connector.runtime.invocation import CallWatchdog, DriverInvoker, implements_only_handle
from contracts import AbstractDriver, MutationData, current_deadline

UUID = "8b0c5a1e-7d2f-4c3b-9a1e-2f3d4c5b6a7e"
M = MutationData(entity_type="product", entity_uuid="p1", operation="created")


class Base(AbstractDriver):
    def get_name(self) -> str:
        return "T"

    def get_type(self) -> str:
        return "t"

    def get_version(self) -> str:
        return "1"

    def get_configuration_schema(self) -> dict[str, str]:
        return {}


class SlowAsync(Base):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.deadline_left: float | None = None
        self.cancelled = False

    async def handle(self, mutation: MutationData) -> None:
        deadline = current_deadline()
        self.deadline_left = deadline.remaining() if deadline else None
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled = True
            raise


class SlowSync(Base):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.running = threading.Event()

    def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        self.running.set()
        time.sleep(self.seconds)

    def handle(self, mutation: MutationData) -> None:
        raise AssertionError("not used")


def invoker(driver: AbstractDriver, timeout_s: float) -> DriverInvoker:
    metrics = ConnectorMetrics(CollectorRegistry())
    return DriverInvoker(
        driver, integration_uuid=UUID, handle_timeout_s=timeout_s, threads=2, metrics=metrics
    )


async def test_an_async_call_gets_its_deadline_and_is_cancelled_when_over_time() -> None:
    driver = SlowAsync(5)
    inv = invoker(driver, 0.2)
    assert inv.per_record
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"exceeded the handle timeout of 0\.2s"):
        await inv.handle_one(M)
    assert time.monotonic() - started < 1.0
    assert driver.cancelled
    assert driver.deadline_left is not None
    assert 0.1 < driver.deadline_left <= 0.2
    current = asyncio.current_task()
    assert current is not None
    assert current.cancelling() == 0  # the timeout's cancellation was taken back


async def test_an_async_call_in_time_is_not_disturbed() -> None:
    inv = invoker(SlowAsync(0.01), 1.0)
    await inv.handle_one(M)
    await asyncio.sleep(0.15)  # past a watchdog tick: nothing is cancelled afterwards


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    inv = invoker(SlowAsync(5), 10)
    task = asyncio.create_task(inv.handle_one(M))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_sync_call_over_time_is_waited_for_and_counted_overdue() -> None:
    driver = SlowSync(0.5)
    inv = invoker(driver, 0.1)
    assert not inv.per_record
    started = time.monotonic()
    await inv.handle_batch("product", [M])  # its own outcome (success) counts
    assert time.monotonic() - started >= 0.5  # never given up while it ran
    assert inv.overdue == 0
    assert inv._overdue_counter._value.get() == 1
    inv.close()


async def test_watchdog_stops_ticking_when_idle() -> None:
    dog = CallWatchdog(tick_s=0.01)
    current = asyncio.current_task()
    assert current is not None
    watch = dog.watch(current, 10)
    dog.unwatch(watch)
    await asyncio.sleep(0.05)
    assert dog._timer is None


def test_seed_style_drivers_are_called_per_record() -> None:
    assert implements_only_handle(SlowAsync(0))
    assert not implements_only_handle(SlowSync(0))


async def test_a_cancelled_sync_call_keeps_its_work_until_the_thread_ends() -> None:
    # A revoke's or the shutdown's grace ran out: the call cannot be interrupted, so the
    # work (and its keys) must stay taken until it ends, and stay counted overdue.
    driver = SlowSync(0.6)
    inv = invoker(driver, 0.1)
    task = asyncio.create_task(inv.handle_batch("product", [M]))
    assert await asyncio.to_thread(driver.running.wait, 5)
    await asyncio.sleep(0.2)
    assert inv.overdue == 1
    task.cancel()
    await asyncio.sleep(0.1)
    task.cancel()  # cancelled again: still waits
    done, _ = await asyncio.wait([task], timeout=0.1)
    assert not done, "the work ended while its driver call still ran"
    assert inv.overdue == 1
    with pytest.raises(asyncio.CancelledError):
        await task
    assert inv.overdue == 0
    inv.close()
