"""Poison isolation: after a batch failed for good, find the records that fail on their own.

The runtime calls `isolate` when `handle_batch` failed permanently or exhausted its retries.
Records that succeed are handled; the failing ones come back with their error so the runtime
can dead-letter them, and the rest of the batch completes.

Trade-offs, by design:

* Bisection re-sends records: when a half fails, the records of that half the driver already
  handled are sent again in smaller sub-batches, so a driver may see a record more than once.
  Drivers must be idempotent (the contract asks for it).
* Cost: ≤ 2·log2(n) calls per poison record in a batch of n (about 1.5·log2(n) on average:
  when a left half succeeds, the right half is split without being tried whole), plus any
  retries of transient failures along the way (each sub-attempt goes through the retry runner).
* Order: halves are tried left first, so the *last successful handling* of each record comes
  in batch order (assuming the driver handles a batch in order). `IsolationResult.handled`
  lists exactly that order. A `PartialBatchError` is trusted instead of bisecting; records it
  lists as transient are retried after the others were handled — pass `key` so that later
  records of the same entity are re-sent after them and per-entity order still holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from connector.failures.classification import FailureKind
from connector.failures.retry import Failed, RetriesExhaustedError, RetryRunner, Succeeded
from contracts.errors import PartialBatchError

__all__ = ["FailedItem", "IsolationResult", "isolate"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FailedItem:
    """A record that failed on its own. `kind` TRANSIENT means its retries were exhausted."""

    index: int
    error: BaseException
    attempts: int
    kind: FailureKind


@dataclass(slots=True)
class IsolationResult:
    handled: list[int] = field(default_factory=list)
    """Indexes whose final handling succeeded, in the order of that handling."""
    failed: list[FailedItem] = field(default_factory=list)
    """Records to dead-letter, by ascending index."""
    calls: int = 0
    """Calls `isolate` made to `attempt`, retries included."""


@dataclass(slots=True)
class _Isolation(Generic[T]):
    items: Sequence[T]
    attempt: Callable[[Sequence[T]], Awaitable[None]]
    runner: RetryRunner
    key: Callable[[T], Hashable] | None
    result: IsolationResult = field(default_factory=IsolationResult)

    async def try_(self, idx: list[int]) -> bool:
        """Send `idx` as one batch (with retries); True if all of it was handled."""
        sub = [self.items[i] for i in idx]
        outcome = await self.runner.attempt(lambda: self.attempt(sub))
        self.result.calls += outcome.attempts
        if isinstance(outcome, Succeeded):
            self.result.handled.extend(idx)
            return True
        exhausted = outcome.kind is FailureKind.TRANSIENT
        await self.resolve(idx, outcome.error, outcome.attempts, outcome.kind, exhausted)
        return False

    async def resolve(
        self,
        idx: list[int],
        error: BaseException,
        attempts: int,
        kind: FailureKind,
        exhausted: bool,
    ) -> None:
        """`idx` failed as a whole with `error`: find out which records of it fail."""
        if kind is FailureKind.FATAL:
            raise error
        if isinstance(error, PartialBatchError) and all(0 <= p < len(idx) for p in error.failures):
            await self.from_partial(idx, error, attempts, exhausted)
        elif len(idx) == 1:
            self.result.failed.append(FailedItem(idx[0], error, attempts, kind))
        else:
            await self.bisect(idx)

    async def bisect(self, idx: list[int]) -> None:
        """`idx` (2+ records) failed as a whole: try each half, left first."""
        mid = len(idx) // 2
        left, right = idx[:mid], idx[mid:]
        if await self.try_(left) and len(right) > 1:
            # The left half is clean, so the failure is on the right: skip trying it whole.
            await self.bisect(right)
        else:
            await self.try_(right)

    async def from_partial(
        self, idx: list[int], error: PartialBatchError, attempts: int, exhausted: bool
    ) -> None:
        """Trust the driver: unlisted records were handled, listed ones failed.

        1. A fatal failure stops everything.
        2. Permanent failures (and transient ones whose retries are exhausted) fail.
        3. Other transient failures are sent again as one sub-batch, together with later
           records of the same entity (per `key`) so that these stay after them.
        """
        kinds = {p: self.runner.kind_of(e) for p, e in error.failures.items()}
        # 1. stop on fatal
        for p, kind in kinds.items():
            if kind is FailureKind.FATAL:
                raise error.failures[p]
        retry: set[int] = set()
        # 2. fail the permanent (and exhausted) ones
        for p in sorted(kinds):
            if kinds[p] is FailureKind.PERMANENT or exhausted:
                self.result.failed.append(FailedItem(idx[p], error.failures[p], attempts, kinds[p]))
            else:
                retry.add(p)
        # 3. re-send the transient ones, with the later records of their entities
        if retry and self.key is not None:
            keys = {self.key(self.items[idx[p]]) for p in retry}
            first = min(retry)
            retry.update(
                p
                for p in range(first + 1, len(idx))
                if p not in kinds and self.key(self.items[idx[p]]) in keys
            )
        self.result.handled.extend(
            idx[p] for p in range(len(idx)) if p not in kinds and p not in retry
        )
        if retry:
            await self.try_([idx[p] for p in sorted(retry)])


async def isolate(
    items: Sequence[T],
    attempt: Callable[[Sequence[T]], Awaitable[None]],
    *,
    runner: RetryRunner,
    error: BaseException | Failed | None = None,
    attempts: int = 1,
    key: Callable[[T], Hashable] | None = None,
) -> IsolationResult:
    """Handle what can be handled of `items` and return the records that fail on their own.

    `attempt` sends a sub-batch (e.g. `driver.handle_batch`). `error` is how the whole batch
    already failed — the `Failed` outcome of `RetryRunner.attempt`, a `RetriesExhaustedError`,
    or an error after `attempts` attempts — so it is not sent again whole (a transient error
    that was not retried yet is). Without `error`, the whole batch is tried first.
    Raises the error of a FATAL failure.
    """
    run: _Isolation[T] = _Isolation(items, attempt, runner, key)
    idx = list(range(len(items)))
    if not idx:
        return run.result
    if isinstance(error, Failed):
        exhausted = error.kind is FailureKind.TRANSIENT
        await run.resolve(idx, error.error, error.attempts, error.kind, exhausted)
    elif error is None:
        await run.try_(idx)
    elif isinstance(error, RetriesExhaustedError):
        last = error.last_error
        await run.resolve(idx, last, error.attempts, FailureKind.TRANSIENT, exhausted=True)
    else:
        kind = runner.kind_of(error)
        if kind is FailureKind.TRANSIENT and not isinstance(error, PartialBatchError):
            await run.try_(idx)  # not retried yet: retry it whole before bisecting
        else:
            await run.resolve(idx, error, attempts, kind, exhausted=False)
    run.result.failed.sort(key=lambda f: f.index)
    return run.result
