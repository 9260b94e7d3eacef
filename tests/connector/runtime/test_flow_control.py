"""FlowControl without Kafka: hold back at the high-water mark (pausing only partitions with
records held), resume below the low one."""

from __future__ import annotations

import pytest

from connector.config.policies import BatchSettings
from connector.runtime.flow_control import FlowControl
from connector.runtime.runner import buffer_marks

A, B, C = ("product", 0), ("product", 1), ("category", 0)


def never() -> set[tuple[str, int]]:
    raise AssertionError("the buffer was walked when nothing needed it")


def test_pauses_the_partitions_held_when_full_and_resumes_them_below_half() -> None:
    flow: FlowControl[tuple[str, int]] = FlowControl(high_records=100, high_bytes=1000)
    assert flow.plan(99, 10, 0.0, delivered={A, C}, held=never) == (frozenset(), frozenset())
    assert flow.full(100, 0)
    assert flow.full(0, 1000)
    plan = flow.plan(100, 10, 0.0, delivered={A}, held=lambda: {A, B})
    assert plan == (frozenset({A, B}), frozenset())
    assert flow.holding
    assert flow.plan(100, 10, 0.01, delivered=set(), held=never) == (frozenset(), frozenset())
    assert flow.plan(51, 10, 0.02, delivered=set(), held=never).resume == frozenset()
    assert flow.plan(50, 600, 0.03, delivered=set(), held=never).resume == frozenset()
    assert flow.plan(50, 500, 0.04, delivered=set(), held=never) == (frozenset(), frozenset({A, B}))
    assert (flow.holding, flow.paused) == (False, frozenset())


def test_a_partition_with_nothing_held_keeps_fetching_while_others_are_paused() -> None:
    # Products wait for a category that has not been fetched yet: pausing the category's
    # partition too would hold back what unblocks them until their retries run out.
    flow: FlowControl[tuple[str, int]] = FlowControl(
        high_records=100, high_bytes=10**9, rescan_s=0.2
    )
    assert flow.plan(150, 0, 0.0, delivered={A, B}, held=lambda: {A, B}).pause == {A, B}
    assert C not in flow.paused
    # while holding back, a partition that delivers is paused at the next turn...
    assert flow.plan(151, 0, 0.05, delivered={C}, held=never) == (frozenset({C}), frozenset())
    # ...and, at the next scan, resumed once nothing of it is held any more (its category
    # was handled), so its next records come too
    assert flow.plan(150, 0, 0.1, delivered=set(), held=never) == (frozenset(), frozenset())
    assert flow.plan(150, 0, 0.21, delivered=set(), held=lambda: {A, B}) == (
        frozenset(),
        frozenset({C}),
    )
    assert flow.paused == {A, B}
    assert flow.holding


def test_partitions_that_leave_are_forgotten() -> None:
    flow: FlowControl[tuple[str, int]] = FlowControl(high_records=10, high_bytes=10**9)
    flow.plan(10, 0, 0.0, delivered=set(), held=lambda: {A, B})
    flow.forget([A])
    assert flow.plan(0, 0, 0.1, delivered=set(), held=never).resume == {B}


def test_marks_must_make_sense() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        FlowControl(high_records=1, high_bytes=100)


def test_buffer_marks_keep_every_slot_busy_and_stay_bounded() -> None:
    batch = BatchSettings(max_records=250, max_bytes=4 * 1024 * 1024)
    records, size = buffer_marks(batch, concurrency=1)
    assert records == 1000
    assert size == 64 * 1024 * 1024
    assert buffer_marks(batch, concurrency=16)[0] == 2 * 16 * 250
    assert buffer_marks(batch, concurrency=1024)[0] == 100_000
