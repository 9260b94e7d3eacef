"""Retry transient failures with exponential backoff and jitter, within `RetrySettings`.

`RetryPolicy` is the pure part: the delay before the next attempt, and whether a failure's
retries are used up. The runtime's scheduler uses it to park a failing key while others go
on; `RetryRunner` uses it to retry a call in place (built on tenacity's `AsyncRetrying`).
Only failures that `classify` calls TRANSIENT are retried; anything else ends the loop at
once. Sleep and clock are injectable so tests run without waiting, and cancelling the
calling task cancels the wait (shutdown never blocks).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception

from connector.config.policies import RetrySettings
from connector.failures.classification import FailureKind, classify
from connector.metrics import METRICS, ConnectorMetrics
from contracts.errors import PartialBatchError, PermanentError, RateLimitedError

__all__ = [
    "Failed",
    "OnRetry",
    "Outcome",
    "RetriesExhaustedError",
    "RetryPolicy",
    "RetryRunner",
    "Succeeded",
    "retry_observer",
]

T = TypeVar("T")

OnRetry = Callable[[int, BaseException, float], None]
"""Called before each wait: (number of the attempt that failed, its error, delay in seconds)."""

_log = logging.getLogger(__name__)


class RetriesExhaustedError(PermanentError):
    """A transient failure that outlasted the retry settings; `last_error` is also `__cause__`.

    The message names only the class of the last error (its text may hold secrets; dead-letter
    headers take it from `last_error` through the redactor).
    """

    def __init__(self, last_error: BaseException, attempts: int):
        super().__init__(
            f"gave up after {attempts} attempt(s); last error: {type(last_error).__qualname__}"
        )
        self.last_error = last_error
        self.attempts = attempts
        self.__cause__ = last_error


@dataclass(frozen=True, slots=True)
class Succeeded(Generic[T]):
    value: T
    attempts: int


@dataclass(frozen=True, slots=True)
class Failed:
    """The call failed for good. `kind` TRANSIENT means the retries were exhausted."""

    error: BaseException
    attempts: int
    kind: FailureKind


Outcome = Succeeded[T] | Failed


def _retry_after(exc: BaseException) -> float:
    """The largest `retry_after` hint the downstream gave, directly or inside a partial batch."""
    errors = exc.failures.values() if isinstance(exc, PartialBatchError) else (exc,)
    hints = [e.retry_after for e in errors if isinstance(e, RateLimitedError) and e.retry_after]
    return max(hints, default=0.0)


class RetryPolicy:
    """Backoff and limits of `RetrySettings`, without waiting or calling anything.

    Delay after attempt n = min(initial * multiplier**(n-1), max_backoff) * (1 ± jitter), at
    least a `RateLimitedError.retry_after`. The retries of a failure are used up after
    `max_attempts` attempts, or when the next wait would end more than `max_elapsed_ms` after
    the first failure (0 disables the time limit).
    """

    def __init__(self, settings: RetrySettings, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self._rng = rng or random.Random()

    def kind_of(self, exc: BaseException) -> FailureKind:
        return classify(exc, self.settings.unknown_errors)

    def is_retried(self, exc: BaseException) -> bool:
        """Whether `exc` is retried: an `Exception` classified TRANSIENT."""
        return isinstance(exc, Exception) and self.kind_of(exc) is FailureKind.TRANSIENT

    def delay_s(self, attempt: int, error: BaseException | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        s = self.settings
        base = min(s.initial_backoff_ms * s.multiplier ** (attempt - 1), s.max_backoff_ms) / 1000
        spread = 1.0 + s.jitter * self._rng.uniform(-1.0, 1.0) if s.jitter else 1.0
        hint = _retry_after(error) if error is not None else 0.0
        return max(base * spread, hint, 0.0)

    def exhausted(self, attempts: int, elapsed_s: float, upcoming_delay_s: float = 0.0) -> bool:
        """Whether a failure after `attempts` attempts, `elapsed_s` after the first failed
        one, may not be retried after `upcoming_delay_s` more."""
        if attempts >= self.settings.max_attempts:
            return True
        max_elapsed_s = self.settings.max_elapsed_ms / 1000
        return max_elapsed_s > 0 and elapsed_s + upcoming_delay_s > max_elapsed_s


class RetryRunner:
    """Runs an async call, retrying TRANSIENT failures in place per `settings` (see
    `RetryPolicy` for the delays and limits)."""

    def __init__(
        self,
        settings: RetrySettings,
        *,
        on_retry: OnRetry | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.policy = RetryPolicy(settings, rng=rng)
        self._on_retry = on_retry
        self._sleep = sleep
        self._clock = clock

    def is_retried(self, exc: BaseException) -> bool:
        return self.policy.is_retried(exc)

    def kind_of(self, exc: BaseException) -> FailureKind:
        return self.policy.kind_of(exc)

    def delay_s(self, attempt: int, error: BaseException | None = None) -> float:
        return self.policy.delay_s(attempt, error)

    async def attempt(self, fn: Callable[[], Awaitable[T]]) -> Outcome[T]:
        """Call `fn` until it succeeds or fails for good; never raises for an `Exception`.

        CancelledError (and other non-`Exception`s) propagate at once.
        """
        calls = 0
        start = self._clock()

        async def counted() -> T:
            nonlocal calls
            calls += 1
            return await fn()

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return self.delay_s(state.attempt_number, error)

        def stop(state: RetryCallState) -> bool:
            elapsed = self._clock() - start
            return self.policy.exhausted(state.attempt_number, elapsed, state.upcoming_sleep or 0.0)

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if self._on_retry is not None and error is not None:
                self._on_retry(state.attempt_number, error, state.upcoming_sleep)

        retrying = AsyncRetrying(
            sleep=self._sleep,
            retry=retry_if_exception(self.is_retried),
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
        )
        try:
            value: T = await retrying(counted)
        except RetryError as exhausted:
            last = exhausted.last_attempt.exception()
            assert last is not None
            return Failed(last, calls, FailureKind.TRANSIENT)
        except Exception as error:  # the outcome carries it to the caller
            return Failed(error, calls, self.kind_of(error))
        return Succeeded(value, calls)

    async def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Call `fn` with retries and return its result.

        Raises `RetriesExhaustedError` when transient failures outlast the settings and
        re-raises any other error unchanged (use `attempt` when you need the attempt count).
        """
        outcome = await self.attempt(fn)
        if isinstance(outcome, Succeeded):
            return outcome.value
        if outcome.kind is FailureKind.TRANSIENT:
            raise RetriesExhaustedError(outcome.error, outcome.attempts) from outcome.error
        raise outcome.error


def retry_observer(
    integration_uuid: str, entity_type: str, *, metrics: ConnectorMetrics = METRICS
) -> OnRetry:
    """An `OnRetry` that counts retries and paused seconds and logs the error class."""
    retries = metrics.retries.labels(integration_uuid, entity_type)
    paused = metrics.retry_paused_seconds.labels(integration_uuid)

    def on_retry(attempt: int, error: BaseException, delay_s: float) -> None:
        retries.inc()
        paused.inc(delay_s)
        _log.warning(
            "attempt %d failed with %s; retrying in %.2fs",
            attempt,
            type(error).__qualname__,
            delay_s,
            extra={"integration": integration_uuid, "entity_type": entity_type},
        )

    return on_retry
