"""`PartialBatchError.stopped`: a driver that stops at a failing record loses nothing after it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pytest

from connector.failures import FailureKind, isolate
from contracts.errors import PartialBatchError, PermanentError, TransientError

if TYPE_CHECKING:
    from tests.connector.failures.conftest import RunnerFactory


def test_stopped_lists_the_failure_and_every_record_not_sent_as_transient() -> None:
    earlier = PermanentError("bad sku")
    error = PartialBatchError.stopped(3, PermanentError("bad price"), 6, earlier={1: earlier})
    assert sorted(error.failures) == [1, 3, 4, 5]
    assert error.failures[1] is earlier
    assert all(isinstance(error.failures[i], TransientError) for i in (4, 5))
    assert "not sent" in str(error.failures[4])
    assert not error.retriable  # a permanent failure among them: isolate, don't retry whole
    assert PartialBatchError.stopped(0, TransientError("timeout"), 2).retriable
    with pytest.raises(ValueError, match="not in a batch of 2"):
        PartialBatchError.stopped(2, PermanentError("x"), 2)


async def test_the_runtimes_isolation_resends_what_was_not_sent_and_keeps_order(
    make_runner: RunnerFactory,
) -> None:
    handled: list[str] = []
    calls: list[list[str]] = []

    async def handle_batch(batch: Sequence[str]) -> None:
        calls.append(list(batch))
        for position, record in enumerate(batch):
            if record == "poison":
                raise PartialBatchError.stopped(position, PermanentError("bad"), len(batch))
            handled.append(record)

    batch = ["a1", "b1", "poison", "a2", "c1"]
    result = await isolate(batch, handle_batch, runner=make_runner())
    assert [(f.index, f.kind) for f in result.failed] == [(2, FailureKind.PERMANENT)]
    assert calls == [batch, ["a2", "c1"]]
    assert handled == ["a1", "b1", "a2", "c1"]
    assert result.handled == [0, 1, 3, 4]
