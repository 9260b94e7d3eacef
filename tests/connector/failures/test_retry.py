from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import pytest
from prometheus_client import CollectorRegistry

from connector.config.policies import RetrySettings
from connector.failures import (
    Failed,
    FailureKind,
    RetriesExhaustedError,
    RetryRunner,
    Succeeded,
    retry_observer,
)
from connector.metrics import ConnectorMetrics
from contracts.errors import ConfigurationError, PermanentError, RateLimitedError, TransientError

if TYPE_CHECKING:
    from tests.connector.failures.conftest import FakeTime, RunnerFactory


Call = Callable[[], Awaitable[str]]


def _failing(errors: list[BaseException], result: str = "ok") -> tuple[Call, list[int]]:
    """A call that raises `errors` one by one, then returns `result`; counts its calls."""
    calls: list[int] = []

    async def call() -> str:
        calls.append(len(calls) + 1)
        if errors:
            raise errors.pop(0)
        return result

    return call, calls


async def test_transient_failure_recovers_after_two_attempts_without_error(
    make_runner: RunnerFactory, fake_time: FakeTime
) -> None:
    seen: list[tuple[int, str, float]] = []
    runner = make_runner(on_retry=lambda n, e, d: seen.append((n, type(e).__name__, d)))
    call, calls = _failing([TimeoutError(), ConnectionResetError()])

    assert await runner.run(call) == "ok"

    assert calls == [1, 2, 3]
    assert seen == [(1, "TimeoutError", 0.1), (2, "ConnectionResetError", 0.2)]
    assert fake_time.sleeps == [0.1, 0.2]


async def test_backoff_grows_exponentially_up_to_the_maximum(
    make_runner: RunnerFactory, fake_time: FakeTime
) -> None:
    runner = make_runner(max_attempts=7, initial_backoff_ms=100, max_backoff_ms=1000, multiplier=2)
    call, _ = _failing([TransientError("down")] * 7)

    outcome = await runner.attempt(call)

    assert isinstance(outcome, Failed)
    assert fake_time.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_jitter_spreads_each_delay_within_the_configured_fraction() -> None:
    runner = RetryRunner(RetrySettings(initial_backoff_ms=1000, max_backoff_ms=1000, jitter=0.2))
    delays = {runner.delay_s(3) for _ in range(200)}
    assert all(0.8 <= d <= 1.2 for d in delays)
    assert max(delays) - min(delays) > 0.2  # actually spread, not constant


async def test_exhausted_retries_raise_with_the_cause_and_attempt_count(
    make_runner: RunnerFactory,
) -> None:
    runner = make_runner(max_attempts=4)
    last = TransientError("downstream said: token=hunter2-secret")
    call, calls = _failing([TransientError("1"), TransientError("2"), TransientError("3"), last])

    with pytest.raises(RetriesExhaustedError) as info:
        await runner.run(call)

    assert info.value.attempts == 4 == len(calls)
    assert info.value.last_error is last
    assert info.value.__cause__ is last
    assert "hunter2" not in str(info.value)
    assert isinstance(info.value, PermanentError)


async def test_retrying_stops_before_a_wait_would_pass_max_elapsed(
    make_runner: RunnerFactory, fake_time: FakeTime
) -> None:
    # waits 1, 2, 4, 8 s ...; a 10 s budget allows 1 + 2 + 4 = 7 s, the next 8 s would end at 15 s
    runner = make_runner(
        max_attempts=100, initial_backoff_ms=1000, max_backoff_ms=60_000, max_elapsed_ms=10_000
    )
    call, calls = _failing([TimeoutError()] * 100)

    outcome = await runner.attempt(call)

    assert isinstance(outcome, Failed)
    assert outcome.kind is FailureKind.TRANSIENT
    assert fake_time.sleeps == [1.0, 2.0, 4.0]
    assert outcome.attempts == len(calls) == 4


async def test_a_permanent_error_is_raised_at_once_with_its_attempt_count(
    make_runner: RunnerFactory, fake_time: FakeTime
) -> None:
    runner = make_runner()
    bad = ValueError("bad sku")
    call, calls = _failing([TimeoutError(), bad])

    outcome = await runner.attempt(call)
    assert outcome == Failed(bad, 2, FailureKind.PERMANENT)

    call, calls = _failing([bad])
    with pytest.raises(ValueError, match="bad sku") as info:
        await runner.run(call)
    assert info.value is bad
    assert calls == [1]


async def test_a_fatal_error_is_not_retried(make_runner: RunnerFactory) -> None:
    runner = make_runner()
    call, calls = _failing([ConfigurationError("no base url")])
    outcome = await runner.attempt(call)
    assert isinstance(outcome, Failed)
    assert outcome.kind is FailureKind.FATAL
    assert calls == [1]


async def test_rate_limit_retry_after_is_a_minimum_delay(
    make_runner: RunnerFactory, fake_time: FakeTime
) -> None:
    runner = make_runner(initial_backoff_ms=100)
    call, _ = _failing([RateLimitedError("429", retry_after=7.5), RateLimitedError("429")])

    assert await runner.run(call) == "ok"

    assert fake_time.sleeps == [7.5, 0.2]


async def test_unknown_errors_follow_the_settings(make_runner: RunnerFactory) -> None:
    call, calls = _failing([RuntimeError("?")])
    assert isinstance(await make_runner(unknown_errors="transient").attempt(call), Succeeded)
    assert calls == [1, 2]

    call, calls = _failing([RuntimeError("?")])
    outcome = await make_runner(unknown_errors="permanent").attempt(call)
    assert isinstance(outcome, Failed)
    assert outcome.kind is FailureKind.PERMANENT
    assert calls == [1]


async def test_cancelling_the_caller_interrupts_the_backoff_wait() -> None:
    runner = RetryRunner(RetrySettings(initial_backoff_ms=60_000, max_backoff_ms=60_000, jitter=0))
    first_call = asyncio.Event()

    async def call() -> str:
        calls.append(1)
        first_call.set()
        raise TimeoutError

    calls: list[int] = []
    task = asyncio.create_task(runner.run(call))
    await first_call.wait()
    await asyncio.sleep(0.01)  # let it enter the 60 s backoff wait

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=2)
    assert calls == [1]


async def test_cancellation_inside_the_call_is_not_retried(make_runner: RunnerFactory) -> None:
    call, calls = _failing([asyncio.CancelledError()])
    with pytest.raises(asyncio.CancelledError):
        await make_runner().attempt(call)
    assert calls == [1]


async def test_retry_observer_counts_retries_and_paused_seconds(
    make_runner: RunnerFactory,
) -> None:
    registry = CollectorRegistry()
    metrics = ConnectorMetrics(registry)
    runner = make_runner(on_retry=retry_observer("int-1", "product", metrics=metrics))
    call, _ = _failing([TimeoutError(), TimeoutError()])

    await runner.run(call)

    labels = {"integration": "int-1", "entity_type": "product"}
    assert registry.get_sample_value("iec_connector_retries_total", labels) == 2
    paused = registry.get_sample_value(
        "iec_connector_retry_paused_seconds_total", {"integration": "int-1"}
    )
    assert paused == pytest.approx(0.3)
