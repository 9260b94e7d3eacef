"""FlowControl without Kafka: pause at the high-water mark, resume below the low one."""

from __future__ import annotations

import pytest

from connector.config.policies import BatchSettings
from connector.runtime.flow_control import FlowControl, FlowDecision
from connector.runtime.runner import buffer_marks


def test_pauses_when_full_and_resumes_below_half() -> None:
    flow = FlowControl(high_records=100, high_bytes=1000)
    assert flow.decide(99, 10) is None
    assert flow.full(100, 0)
    assert flow.full(0, 1000)
    assert flow.decide(100, 10) is FlowDecision.PAUSE
    assert flow.paused
    assert flow.decide(100, 10) is None  # already paused
    assert flow.decide(51, 10) is None  # not low enough yet
    assert flow.decide(50, 600) is None  # records low, bytes not
    assert flow.decide(50, 500) is FlowDecision.RESUME
    assert not flow.paused


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
