"""`WorkHandler`: one work through the driver, with retries, poison isolation and dead letters.

A *work* comes from the `KeyScheduler`: leading records of distinct keys, one entity type.
Protocol:

1. Decode what is not decoded yet. A value that is not a mutation is dead-lettered (stage
   ``decode``). A decode that failed for a transient reason (the schema registry is
   unreachable) is tried once more, off the event loop; if it still fails, the record goes
   back to the scheduler for a retry, with its key's later records, or is dead-lettered
   (kind ``transient``, with its attempts) once its retries are used up.
2. Call the driver: `handle_batch` once with the decoded records (once per entity type:
   the retry topic mixes them), or, for a driver that implements only `handle`, `handle`
   for each record in order (a work then holds one key).
3. Sort a failure (`connector.failures.classification`):
   - fatal: raise `FatalError`; the integration stops and nothing of the work is finished;
   - `PartialBatchError`: the records it lists as permanent are dead-lettered; those it lists
     as transient go back for a retry together with their key's later records of the work
     (sent again after them, so per-entity order holds); the others are done;
   - transient: every record's attempt count goes up and the work goes back to the scheduler
     as a *retry group*, parked for the backoff while other keys go on. A group that fails
     again is split in two, so a bad key ends up alone and its neighbours get through.
     Records whose retries are used up get one more try each in isolation; what still fails
     is dead-lettered;
   - permanent: isolation (bisection; transient failures met on the way retried in place)
     finds the failing records; only they are dead-lettered, the others complete in order.
4. Write the work's dead letters together and return. Every `finished` record is handled or
   acknowledged by the dead-letter topic (a failed dead-letter write is retried until it
   succeeds or the integration stops); `retries` go back to the scheduler.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from connector.config.policies import RetrySettings
from connector.dead_letters.headers import (
    DeadLetterContext,
    Failure,
    Headers,
    Stage,
    dead_letter_headers,
)
from connector.failures.classification import FailureKind
from connector.failures.isolation import FailedItem, isolate
from connector.failures.retry import Failed, RetryPolicy, RetryRunner, retry_observer
from connector.kafka.records import ConsumedRecord
from connector.metrics import METRICS, ConnectorMetrics
from connector.redaction import Redactor, bounded_head
from connector.runtime.decoding import RecordDecoder
from connector.runtime.invocation import DriverInvoker
from connector.runtime.scheduling import RetryGroup, Work
from contracts import FatalError, MutationData, Operation, PartialBatchError, TransientError

__all__ = ["DeadLetterSink", "WorkHandler", "WorkResult"]

_DLQ_RETRY_MAX_S = 30.0


class DeadLetterSink(Protocol):
    """Writes failed records to the dead-letter topic (`DeadLetterProducer`)."""

    async def write(
        self, items: Sequence[tuple[ConsumedRecord, Headers]]
    ) -> Sequence[Exception | None]:
        """Write every (record, headers) together, one wait; each one's error or None."""
        ...


@dataclass(slots=True)
class WorkResult:
    finished: list[ConsumedRecord] = field(default_factory=list)
    """Handled, or acknowledged by the dead-letter topic: their offsets may be committed."""
    retries: list[RetryGroup] = field(default_factory=list)
    """Back to the scheduler, each group parked until its `not_before`."""


@dataclass(slots=True)
class _Run:
    """What one work has come to so far."""

    now: float
    handled: list[ConsumedRecord] = field(default_factory=list)
    dead: list[tuple[ConsumedRecord, Failure]] = field(default_factory=list)
    retries: list[RetryGroup] = field(default_factory=list)


class WorkHandler:
    """Drives one integration's works; see the module docstring for the protocol."""

    def __init__(
        self,
        *,
        invoker: DriverInvoker,
        integration_uuid: str,
        retry: RetrySettings,
        dead_letters: DeadLetterSink,
        dead_letter_context: DeadLetterContext,
        redactor: Redactor,
        decoder: RecordDecoder | None,
        key_of: Callable[[ConsumedRecord], Hashable],
        metrics: ConnectorMetrics = METRICS,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._invoker = invoker
        self._label = integration_uuid
        self._settings = retry
        self._policy = RetryPolicy(retry)
        self._dead_letters = dead_letters
        self._dl_context = dead_letter_context
        self._redactor = redactor
        self._decoder = decoder
        self._key_of = key_of
        self._metrics = metrics
        self._clock = clock
        self.log = logger or logging.getLogger("iec.runtime.handling")
        self._handled: dict[tuple[str, Operation], Any] = {}
        """`records_handled` children per (entity type, operation)."""

    async def run(self, work: Work) -> WorkResult:
        run = _Run(self._clock())
        # 1. decode
        good = await self._decode(work, run)
        by_type: dict[str, list[ConsumedRecord]] = {}
        for record in good:
            assert record.mutation is not None
            by_type.setdefault(record.mutation.entity_type, []).append(record)
        # 2./3. the driver, and what its failures mean
        for entity_type, records in by_type.items():
            if self._invoker.per_record:
                await self._one_by_one(entity_type, records, run)
            else:
                await self._batch(entity_type, records, work.retry, run)
        # 4. dead letters, all at once
        if run.dead:
            await self._write_dead_letters(run.dead)
        self._count_handled(run.handled)
        return WorkResult([*run.handled, *(record for record, _ in run.dead)], run.retries)

    # -- 1. decode ----------------------------------------------------------------------------
    async def _decode(self, work: Work, run: _Run) -> list[ConsumedRecord]:
        decoder = self._decoder
        registry_down = False
        waiting: list[ConsumedRecord] = []
        for record in work.records:
            if record.mutation is None and record.error is None and decoder is not None:
                decoder.decode_into(record)
            if (
                record.mutation is None
                and isinstance(record.error, TransientError)
                and decoder is not None
                and not registry_down
            ):
                decoded = await decoder.retry(record)
                registry_down = not decoded and isinstance(record.error, TransientError)
            if record.mutation is None:
                error = record.error or ValueError("undecodable record")
                if isinstance(error, TransientError):
                    waiting.append(record)
                else:
                    self._count_error("decode", FailureKind.PERMANENT, error)
                    run.dead.append((record, Failure(Stage.DECODE, error, record.attempts)))
        if not waiting:
            return [r for r in work.records if r.mutation is not None]
        # The registry is down: these records (and their keys' later ones) wait for it.
        error = waiting[-1].error or TransientError("schema registry unavailable")
        retry, exhausted = self._count_failures(waiting, run.now, error)
        for record in exhausted:
            failed = record.error or error
            self._count_error("decode", FailureKind.TRANSIENT, failed)
            run.dead.append(
                (record, Failure(Stage.DECODE, failed, record.attempts, FailureKind.TRANSIENT))
            )
        held = set(map(id, self._with_followers(retry, work.records)))
        if held:
            self._park(work.entity_type, [r for r in work.records if id(r) in held], error, run)
        return [r for r in work.records if r.mutation is not None and id(r) not in held]

    # -- 2./3. batch drivers ------------------------------------------------------------------
    async def _batch(
        self, entity_type: str, records: list[ConsumedRecord], retrying: bool, run: _Run
    ) -> None:
        try:
            await self._invoker.handle_batch(entity_type, _mutations(records))
        except Exception as error:
            kind = self._policy.kind_of(error)
            if kind is FailureKind.FATAL:
                self._fatal(error)
            if isinstance(error, PartialBatchError) and all(
                0 <= i < len(records) for i in error.failures
            ):
                await self._partial(entity_type, records, error, run)
            elif kind is FailureKind.TRANSIENT:
                await self._transient(entity_type, records, error, retrying, run)
            else:
                await self._isolate(entity_type, records, error, run)
        else:
            run.handled.extend(records)

    async def _transient(
        self,
        entity_type: str,
        records: list[ConsumedRecord],
        error: BaseException,
        retrying: bool,
        run: _Run,
    ) -> None:
        """The whole call failed transiently: retry later, or isolate what is used up."""
        retry, exhausted = self._count_failures(records, run.now, error)
        if exhausted:
            self._count_error("handle", FailureKind.TRANSIENT, error)
            attempts = max(r.attempts for r in exhausted)
            result = await isolate(
                exhausted,
                lambda part: self._invoker.handle_batch(entity_type, _mutations(part)),
                runner=self._runner(entity_type, one_try=True),
                error=Failed(error, attempts, FailureKind.TRANSIENT),
                key=self._key_of,
            )
            self._take_isolation(exhausted, result.handled, result.failed, run)
        if not retry:
            return
        keys = list(dict.fromkeys(map(self._key_of, retry)))
        if retrying and len(keys) > 1:
            # It failed again as a group: split it, so one bad key ends up on its own.
            first = set(keys[: len(keys) // 2])
            left = [r for r in retry if self._key_of(r) in first]
            right = [r for r in retry if self._key_of(r) not in first]
            self._park(entity_type, left, error, run, also=right)
        else:
            self._park(entity_type, retry, error, run)

    async def _partial(
        self,
        entity_type: str,
        records: list[ConsumedRecord],
        error: PartialBatchError,
        run: _Run,
    ) -> None:
        """Trust the driver: unlisted records were handled, listed ones failed.

        1. A fatal failure stops everything.
        2. Permanent failures are dead-lettered.
        3. Transient ones are retried later (or dead-lettered once used up), together with
           their keys' later records, which are sent again after them.
        """
        kinds = {i: self._policy.kind_of(e) for i, e in error.failures.items()}
        # 1. fatal
        for i, kind in kinds.items():
            if kind is FailureKind.FATAL:
                self._fatal(error.failures[i])
        # 2. permanent
        transient: list[ConsumedRecord] = []
        for i in sorted(kinds):
            failed = error.failures[i]
            if kinds[i] is FailureKind.PERMANENT:
                self._count_error("handle", FailureKind.PERMANENT, failed)
                run.dead.append(
                    (records[i], Failure(Stage.HANDLE, failed, records[i].attempts + 1))
                )
            else:
                records[i].error = failed
                transient.append(records[i])
        # 3. transient
        retry, exhausted = self._count_failures(transient, run.now, error)
        for record in exhausted:
            failed = record.error or error
            self._count_error("handle", FailureKind.TRANSIENT, failed)
            run.dead.append(
                (record, Failure(Stage.HANDLE, failed, record.attempts, FailureKind.TRANSIENT))
            )
        for record in transient:
            record.error = None
        held = set(map(id, self._with_followers(retry, records)))
        listed = {id(records[i]) for i in kinds}
        run.handled.extend(r for r in records if id(r) not in listed and id(r) not in held)
        if held:
            # The partial error carries every retry_after hint: the backoff honours the largest.
            self._park(entity_type, [r for r in records if id(r) in held], error, run)

    async def _isolate(
        self, entity_type: str, records: list[ConsumedRecord], error: BaseException, run: _Run
    ) -> None:
        """The whole call failed permanently: find the records that fail on their own."""
        try:
            result = await isolate(
                records,
                lambda part: self._invoker.handle_batch(entity_type, _mutations(part)),
                runner=self._runner(entity_type, one_try=False),
                error=Failed(error, 1, FailureKind.PERMANENT),
                key=self._key_of,
            )
        except FatalError:
            raise
        except Exception as fatal:
            self._fatal(fatal)
        self._take_isolation(records, result.handled, result.failed, run)

    def _take_isolation(
        self,
        records: Sequence[ConsumedRecord],
        handled: Iterable[int],
        failed: Iterable[FailedItem],
        run: _Run,
    ) -> None:
        run.handled.extend(records[i] for i in handled)
        for item in failed:
            record = records[item.index]
            attempts = max(record.attempts, item.attempts)
            if item.kind is FailureKind.PERMANENT:
                self._count_error("handle", item.kind, item.error)
            run.dead.append((record, Failure(Stage.HANDLE, item.error, attempts, item.kind)))

    # -- 2./3. drivers that implement only `handle` -------------------------------------------
    async def _one_by_one(self, entity_type: str, records: list[ConsumedRecord], run: _Run) -> None:
        for index, record in enumerate(records):
            assert record.mutation is not None
            try:
                await self._invoker.handle_one(record.mutation)
            except Exception as error:
                kind = self._policy.kind_of(error)
                if kind is FailureKind.FATAL:
                    self._fatal(error)
                if kind is not FailureKind.TRANSIENT:
                    self._count_error("handle", kind, error)
                    run.dead.append((record, Failure(Stage.HANDLE, error, record.attempts + 1)))
                    continue
                _, exhausted = self._count_failures([record], run.now, error)
                if exhausted:
                    self._count_error("handle", FailureKind.TRANSIENT, error)
                    run.dead.append(
                        (
                            record,
                            Failure(Stage.HANDLE, error, record.attempts, FailureKind.TRANSIENT),
                        )
                    )
                    continue
                # The key's later records wait behind this one.
                self._park(entity_type, records[index:], error, run)
                return
            else:
                run.handled.append(record)

    # -- retries ------------------------------------------------------------------------------
    def _count_failures(
        self, records: Sequence[ConsumedRecord], now: float, error: BaseException
    ) -> tuple[list[ConsumedRecord], list[ConsumedRecord]]:
        """One more failed attempt for each record: (to retry later, retries used up)."""
        retry: list[ConsumedRecord] = []
        exhausted: list[ConsumedRecord] = []
        for record in records:
            record.attempts += 1
            if not record.first_failed_at:
                record.first_failed_at = now
        if not records:
            return retry, exhausted
        delay = self._policy.delay_s(max(r.attempts for r in records), error)
        for record in records:
            used_up = self._policy.exhausted(record.attempts, now - record.first_failed_at, delay)
            (exhausted if used_up else retry).append(record)
        return retry, exhausted

    def _park(
        self,
        entity_type: str,
        records: list[ConsumedRecord],
        error: BaseException,
        run: _Run,
        *,
        also: list[ConsumedRecord] | None = None,
    ) -> None:
        """Send records back to the scheduler, parked for the backoff of their attempts."""
        attempts = max(r.attempts for r in records)
        delay = self._policy.delay_s(max(attempts, 1), error)
        retry_observer(self._label, entity_type, metrics=self._metrics)(attempts, error, delay)
        run.retries.append(RetryGroup(records, run.now + delay))
        if also:
            run.retries.append(RetryGroup(also, run.now + delay))

    def _with_followers(
        self, failed: Iterable[ConsumedRecord], records: Sequence[ConsumedRecord]
    ) -> list[ConsumedRecord]:
        """`failed` plus every later record of their keys in `records`, in `records` order."""
        failed_ids = {id(r) for r in failed}
        if not failed_ids:
            return []
        keys: set[Hashable] = set()
        out: list[ConsumedRecord] = []
        for record in records:
            key = self._key_of(record)
            if id(record) in failed_ids:
                keys.add(key)
                out.append(record)
            elif key in keys:
                out.append(record)
        return out

    def _runner(self, entity_type: str, *, one_try: bool) -> RetryRunner:
        settings = self._settings
        if one_try:
            settings = settings.model_copy(update={"max_attempts": 1})
        return RetryRunner(
            settings, on_retry=retry_observer(self._label, entity_type, metrics=self._metrics)
        )

    def _fatal(self, error: BaseException) -> None:
        self._count_error("handle", FailureKind.FATAL, error)
        raise FatalError(f"integration stopped by {type(error).__name__}: {error}") from error

    # -- 4. dead letters ----------------------------------------------------------------------
    async def _write_dead_letters(self, dead: list[tuple[ConsumedRecord, Failure]]) -> None:
        """Write the work's dead letters together (one wait for their acknowledgements) and
        again those the cluster did not take, until it takes them all: none is lost, and
        none written twice unless its acknowledgement was lost. A refusal for good (ACLs,
        credentials) stops the integration: nothing is committed without its dead letter."""
        pending = [
            (record, dead_letter_headers(record, failure, self._dl_context, self._redactor))
            for record, failure in dead
        ]
        delay = 0.5
        while pending:
            outcomes = await self._dead_letters.write(pending)
            failed = [
                (letter, error)
                for letter, error in zip(pending, outcomes, strict=True)
                if error is not None
            ]
            for _, error in failed:
                if self._policy.kind_of(error) is FailureKind.FATAL:
                    raise FatalError(
                        f"dead letters cannot be written: {type(error).__name__}: {error}"
                    ) from error
            if not failed:
                break
            pending = [letter for letter, _ in failed]
            error = failed[0][1]
            # Counted by the sink (the producer knows what the broker refused), not twice.
            self.log.error(
                "dead-letter write failed (%s: %s); retrying %d in %.1fs",
                type(error).__name__,
                bounded_head(self._redactor.redact(str(error)), 500),
                len(pending),
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _DLQ_RETRY_MAX_S)
        for record, failure in dead:
            self.log.error(
                "record %s[%d]@%d dead-lettered at stage %s: %s",
                record.topic,
                record.partition,
                record.offset,
                failure.stage.value,
                type(failure.error).__name__,
            )

    # -- metrics ------------------------------------------------------------------------------
    def _count_handled(self, records: Sequence[ConsumedRecord]) -> None:
        ops: dict[tuple[str, Operation], int] = {}
        for r in records:
            if r.mutation is not None:
                key = (r.mutation.entity_type, r.mutation.operation)
                ops[key] = ops.get(key, 0) + 1
        for key, n in ops.items():
            child = self._handled.get(key)
            if child is None:
                child = self._handled[key] = self._metrics.records_handled.labels(
                    self._label, key[0], key[1].value
                )
            child.inc(n)

    def _count_error(self, stage: str, kind: FailureKind, exc: BaseException) -> None:
        self._metrics.errors.labels(self._label, stage, kind.value, type(exc).__name__).inc()


def _mutations(records: Sequence[ConsumedRecord]) -> list[MutationData]:
    return [r.mutation for r in records if r.mutation is not None]
