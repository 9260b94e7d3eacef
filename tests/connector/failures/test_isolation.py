from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from connector.failures import Failed, FailureKind, RetriesExhaustedError, isolate
from contracts.errors import (
    ConfigurationError,
    PartialBatchError,
    PermanentError,
    RateLimitedError,
    TransientError,
)

if TYPE_CHECKING:
    from tests.connector.failures.conftest import RunnerFactory


@dataclass(frozen=True)
class Rec:
    n: int
    key: str = ""


@dataclass
class RecordingDriver:
    """Handles a batch in order like a non-transactional sink: records before a failing one stay
    handled. Logs every successful handling; `flaky` records fail transiently once each."""

    poison: set[int] = field(default_factory=set)
    flaky: set[int] = field(default_factory=set)
    log: list[int] = field(default_factory=list)
    calls: int = 0

    async def handle_batch(self, batch: Sequence[Rec]) -> None:
        self.calls += 1
        for rec in batch:
            if rec.n in self.flaky:
                self.flaky.discard(rec.n)
                raise TransientError(f"timeout at {rec.n}")
            if rec.n in self.poison:
                raise PermanentError(f"poison {rec.n}")
            self.log.append(rec.n)

    def final_order(self) -> list[int]:
        """Records ordered by their last successful handling."""
        last = {n: pos for pos, n in enumerate(self.log)}
        return sorted(last, key=last.__getitem__)


def _batch(n: int) -> list[Rec]:
    return [Rec(i) for i in range(n)]


@pytest.mark.parametrize("poison", [0, 1, 37, 49, 50, 51, 98, 99])
async def test_one_poison_record_in_a_batch_of_100_leaves_99_handled_in_order(
    make_runner: RunnerFactory, poison: int
) -> None:
    driver = RecordingDriver(poison={poison})
    items = _batch(100)
    with pytest.raises(PermanentError) as first:  # the runtime's own attempt at the whole batch
        await driver.handle_batch(items)

    result = await isolate(items, driver.handle_batch, runner=make_runner(), error=first.value)

    expected = [i for i in range(100) if i != poison]
    assert [(f.index, f.kind, f.attempts) for f in result.failed] == [
        (poison, FailureKind.PERMANENT, 1)
    ]
    assert str(result.failed[0].error) == f"poison {poison}"
    assert result.handled == expected
    assert driver.final_order() == expected
    assert result.calls <= 2 * math.ceil(math.log2(100))


async def test_without_an_error_the_whole_batch_is_tried_first(make_runner: RunnerFactory) -> None:
    driver = RecordingDriver()
    result = await isolate(_batch(10), driver.handle_batch, runner=make_runner())
    assert result.handled == list(range(10))
    assert result.failed == []
    assert driver.calls == result.calls == 1


async def test_an_all_poison_batch_fails_every_record(make_runner: RunnerFactory) -> None:
    driver = RecordingDriver(poison=set(range(8)))
    result = await isolate(_batch(8), driver.handle_batch, runner=make_runner())
    assert [f.index for f in result.failed] == list(range(8))
    assert result.handled == []
    assert driver.log == []


async def test_transient_failure_during_bisection_recovers_without_a_dead_letter(
    make_runner: RunnerFactory,
) -> None:
    driver = RecordingDriver(poison={10}, flaky={60, 61})
    result = await isolate(_batch(100), driver.handle_batch, runner=make_runner())
    assert [f.index for f in result.failed] == [10]
    assert result.handled == [i for i in range(100) if i != 10]
    assert driver.final_order() == result.handled


async def test_transient_then_ok_batch_needs_no_isolation(make_runner: RunnerFactory) -> None:
    driver = RecordingDriver(flaky={3})
    result = await isolate(_batch(5), driver.handle_batch, runner=make_runner())
    assert result.failed == []
    assert result.handled == [0, 1, 2, 3, 4]
    assert driver.calls == 2


async def test_exhausted_transient_singleton_fails_as_transient(make_runner: RunnerFactory) -> None:
    async def always_times_out(batch: Sequence[Rec]) -> None:
        if any(r.n == 2 for r in batch):
            raise TimeoutError("downstream timed out")

    result = await isolate(_batch(4), always_times_out, runner=make_runner(max_attempts=3))
    assert [(f.index, f.kind, f.attempts) for f in result.failed] == [(2, FailureKind.TRANSIENT, 3)]
    assert result.handled == [0, 1, 3]


class PartialDriver:
    """Reports per-record failures like a bulk API: first call fails 3 (bad data) and 7
    (throttled); later calls succeed."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def handle_batch(self, batch: Sequence[Rec]) -> None:
        self.batches.append([r.n for r in batch])
        if len(self.batches) == 1:
            raise PartialBatchError({3: ValueError("bad sku"), 7: RateLimitedError("429")})


async def test_partial_batch_error_is_trusted_and_transient_ones_retried(
    make_runner: RunnerFactory,
) -> None:
    driver = PartialDriver()
    items = _batch(10)

    result = await isolate(items, driver.handle_batch, runner=make_runner())

    assert [(f.index, f.kind) for f in result.failed] == [(3, FailureKind.PERMANENT)]
    assert driver.batches == [list(range(10)), [7]]
    assert result.handled == [0, 1, 2, 4, 5, 6, 8, 9, 7]


async def test_partial_batch_retry_resends_later_records_of_the_same_entity(
    make_runner: RunnerFactory,
) -> None:
    driver = PartialDriver()
    items = [Rec(i, key="e7" if i in (7, 9) else f"e{i}") for i in range(10)]

    result = await isolate(items, driver.handle_batch, runner=make_runner(), key=lambda r: r.key)

    assert driver.batches[1] == [7, 9]
    assert result.handled == [0, 1, 2, 4, 5, 6, 8, 7, 9]


async def test_partial_batch_under_exhausted_retries_fails_without_another_call(
    make_runner: RunnerFactory,
) -> None:
    calls: list[int] = []

    async def handle(batch: Sequence[Rec]) -> None:
        calls.append(len(batch))

    partial = PartialBatchError({2: TransientError("timeout")})
    result = await isolate(
        _batch(5), handle, runner=make_runner(), error=RetriesExhaustedError(partial, 10)
    )

    assert [(f.index, f.kind, f.attempts) for f in result.failed] == [
        (2, FailureKind.TRANSIENT, 10)
    ]
    assert result.handled == [0, 1, 3, 4]
    assert calls == []


async def test_partial_batch_with_an_impossible_index_falls_back_to_bisection(
    make_runner: RunnerFactory,
) -> None:
    driver = RecordingDriver(poison={1})
    result = await isolate(
        _batch(4),
        driver.handle_batch,
        runner=make_runner(),
        error=PartialBatchError({9: ValueError("?")}),
    )
    assert [f.index for f in result.failed] == [1]
    assert result.handled == [0, 2, 3]


async def test_a_fatal_error_stops_isolation(make_runner: RunnerFactory) -> None:
    async def broken(batch: Sequence[Rec]) -> None:
        raise ConfigurationError("base_url missing")

    with pytest.raises(ConfigurationError):
        await isolate(_batch(4), broken, runner=make_runner(), error=ValueError("first"))


async def test_a_failed_outcome_of_the_runner_is_not_retried_whole_again(
    make_runner: RunnerFactory,
) -> None:
    driver = RecordingDriver(poison={2})
    runner = make_runner(max_attempts=3)

    async def handle(batch: Sequence[Rec]) -> None:
        if len(batch) == 6:
            raise TimeoutError("the whole batch times out")
        await driver.handle_batch(batch)

    outcome = await runner.attempt(lambda: handle(_batch(6)))
    assert isinstance(outcome, Failed)
    result = await isolate(_batch(6), handle, runner=runner, error=outcome)

    assert [(f.index, f.kind) for f in result.failed] == [(2, FailureKind.PERMANENT)]
    assert result.handled == [0, 1, 3, 4, 5]
    assert result.calls == driver.calls  # no further call with all six records
