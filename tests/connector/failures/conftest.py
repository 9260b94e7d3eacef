"""Fixtures for failure handling: a fake clock whose sleep returns at once and advances it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from connector.config.policies import RetrySettings
from connector.failures import OnRetry, RetryRunner


class FakeTime:
    """`sleep` records the delay and advances `now` instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


RunnerFactory = Callable[..., RetryRunner]


@pytest.fixture
def make_runner(fake_time: FakeTime) -> RunnerFactory:
    """Build a RetryRunner on the fake clock; keyword arguments go to RetrySettings."""

    def make(on_retry: OnRetry | None = None, **settings: object) -> RetryRunner:
        defaults: dict[str, object] = {"initial_backoff_ms": 100, "jitter": 0.0}
        return RetryRunner(
            RetrySettings.model_validate(defaults | settings),
            on_retry=on_retry,
            sleep=fake_time.sleep,
            clock=fake_time.clock,
        )

    return make
