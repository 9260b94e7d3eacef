"""`BatchHandler`: one batch through the driver, with retries, poison isolation and dead letters.

Protocol for a batch of one entity type:

1. Records that did not decode go to dead letters (stage ``decode``).
2. The rest go to `handle_batch` as one call, under the handle timeout; transient failures
   are retried with backoff inside the integration's retry settings.
3. If the call fails permanently or exhausts its retries, the failing records are isolated
   (the driver's own `PartialBatchError`, else bisection) and only they are dead-lettered
   (stage ``handle``); the others complete, in order.
4. A fatal error (configuration or code) stops the integration: it is raised, and nothing of
   the batch is marked finished, so nothing more is committed.

The batch returns only when every record is handled or acknowledged by the dead-letter
topic; a failed dead-letter write is retried until it succeeds or the integration stops.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from connector.config.policies import RetrySettings
from connector.dead_letters.headers import (
    DeadLetterContext,
    Failure,
    Headers,
    Stage,
    dead_letter_headers,
)
from connector.failures.classification import FailureKind
from connector.failures.isolation import isolate
from connector.failures.retry import RetryRunner, Succeeded, retry_observer
from connector.kafka.records import ConsumedRecord
from connector.metrics import METRICS, ConnectorMetrics
from connector.redaction import Redactor, bounded_head
from connector.runtime.decoding import decode_record
from contracts import (
    DriverContract,
    FatalError,
    MutationData,
    Operation,
    TransientError,
    is_async_driver,
)

__all__ = ["BatchHandler", "DeadLetterSink"]

_DLQ_RETRY_MAX_S = 30.0


class DeadLetterSink(Protocol):
    """Writes one failed record to the dead-letter topic; returns once acknowledged."""

    async def send(self, record: ConsumedRecord, headers: Headers) -> None: ...


class BatchHandler:
    """Drives `handle_batch` for one integration; see the module docstring for the protocol."""

    def __init__(
        self,
        *,
        driver: DriverContract,
        integration_uuid: str,
        handle_timeout_s: float,
        retry: RetrySettings,
        dead_letters: DeadLetterSink,
        dead_letter_context: DeadLetterContext,
        redactor: Redactor,
        decode: Callable[[bytes], MutationData] | None = None,
        metrics: ConnectorMetrics = METRICS,
        logger: logging.Logger | None = None,
        driver_threads: int = 4,
    ) -> None:
        self._driver = driver
        self._async = is_async_driver(driver)
        self._label = integration_uuid
        self._timeout = handle_timeout_s
        self._retry_settings = retry
        self._dead_letters = dead_letters
        self._dl_context = dead_letter_context
        self._redactor = redactor
        self._decode = decode
        self._metrics = metrics
        self.log = logger or logging.getLogger("iec.runtime.handling")
        # More than one thread: a sync call abandoned after its timeout keeps its thread
        # (Python cannot kill it), and the retry must not queue behind it. Isolation can
        # abandon more calls than there are threads: then the pool is replaced (see _invoke).
        self._driver_threads = driver_threads
        self._threads = self._new_threads()

    def _new_threads(self) -> concurrent.futures.ThreadPoolExecutor:
        return concurrent.futures.ThreadPoolExecutor(
            self._driver_threads, f"driver-{self._label[:8]}"
        )

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def handle(self, entity_type: str, records: Sequence[ConsumedRecord]) -> None:
        # 1. undecodable records (a transient decode failure is retried first)
        good: list[ConsumedRecord] = []
        for record in records:
            if record.mutation is None and isinstance(record.error, TransientError):
                await self._redecode(entity_type, record)
            if record.mutation is None:
                error = record.error or ValueError("undecodable record")
                self._count_error("decode", FailureKind.PERMANENT, error)
                await self._dead_letter(record, Failure(Stage.DECODE, error, attempts=0))
            else:
                good.append(record)
        # A batch is of one entity type, except records of the retry topic whose type was
        # only learnt by the re-decode above: hand each type its own call.
        by_type: dict[str, list[ConsumedRecord]] = {}
        for record in good:
            assert record.mutation is not None
            by_type.setdefault(record.mutation.entity_type, []).append(record)
        for mutation_type, group in by_type.items():
            await self._handle_decoded(mutation_type, group)

    async def _handle_decoded(self, entity_type: str, good: list[ConsumedRecord]) -> None:
        # 2. the whole batch, with retries
        runner = RetryRunner(
            self._retry_settings,
            on_retry=retry_observer(self._label, entity_type, metrics=self._metrics),
        )
        outcome = await runner.attempt(lambda: self._invoke(entity_type, good))
        if isinstance(outcome, Succeeded):
            self._count_handled(entity_type, good)
            return
        error = outcome.error
        self._count_error("handle", outcome.kind, error)
        if outcome.kind is FailureKind.FATAL:
            # 4. stop the integration loudly; nothing of this batch is finished
            raise FatalError(f"integration stopped by {type(error).__name__}") from error
        # 3. isolate the failing records; the others complete, in order. After the whole
        # batch has used up its retries on transient errors (a long outage, a timeout), each
        # sub-batch gets one try: with full budgets, bisecting n records would wait about 2n
        # retry budgets (hours) before dead-lettering what the outage kept failing anyway.
        if outcome.kind is FailureKind.TRANSIENT:
            runner = RetryRunner(
                self._retry_settings.model_copy(update={"max_attempts": 1}),
                on_retry=retry_observer(self._label, entity_type, metrics=self._metrics),
            )
        try:
            result = await isolate(
                good,
                lambda part: self._invoke(entity_type, part),
                runner=runner,
                error=outcome,  # the outcome says whether the retries were already exhausted
                key=_entity_key,
            )
        except Exception as fatal:
            raise FatalError(f"integration stopped by {type(fatal).__name__}") from fatal
        self._count_handled(entity_type, [good[i] for i in result.handled])
        for failed in result.failed:
            # attempts: the longer of the batch's retry sequence and the record's own in
            # isolation (a lower bound of how often the record was tried).
            attempts = max(outcome.attempts, failed.attempts)
            await self._dead_letter(
                good[failed.index], Failure(Stage.HANDLE, failed.error, attempts=attempts)
            )

    async def _redecode(self, entity_type: str, record: ConsumedRecord) -> None:
        if self._decode is None:
            return
        decode = self._decode

        async def attempt() -> MutationData:
            # Off the loop: the registry client blocks while it retries.
            return await asyncio.to_thread(decode_record, record, decode)

        runner = RetryRunner(
            self._retry_settings,
            on_retry=retry_observer(self._label, entity_type, metrics=self._metrics),
        )
        outcome = await runner.attempt(attempt)
        if isinstance(outcome, Succeeded):
            record.mutation, record.error = outcome.value, None
        else:
            record.error = outcome.error

    async def _invoke(self, entity_type: str, records: Sequence[ConsumedRecord]) -> None:
        mutations: list[MutationData] = [r.mutation for r in records if r.mutation is not None]
        started = time.perf_counter()
        try:
            if self._async:
                await asyncio.wait_for(self._driver.handle_batch(mutations), self._timeout)  # type: ignore[arg-type]
            else:
                threads = self._threads
                call = threads.submit(self._driver.handle_batch, mutations)
                try:
                    await asyncio.wait_for(asyncio.wrap_future(call), self._timeout)
                except TimeoutError:
                    if not call.cancel() and threads is self._threads:
                        # The call is running and keeps its thread: later calls get a fresh
                        # pool rather than queueing behind it (and timing out unstarted).
                        self._threads = self._new_threads()
                        threads.shutdown(wait=False)
                    raise
        except TimeoutError:
            raise TimeoutError(
                f"handle_batch of {len(mutations)} {entity_type} mutation(s) exceeded the "
                f"handle timeout of {self._timeout:g}s"
            ) from None
        finally:
            elapsed = time.perf_counter() - started
            self._metrics.handle_duration.labels(self._label, entity_type).observe(elapsed)
            self._metrics.batch_size.labels(self._label, entity_type).observe(len(mutations))
            self._metrics.batches.labels(self._label, entity_type).inc()

    async def _dead_letter(self, record: ConsumedRecord, failure: Failure) -> None:
        headers = dead_letter_headers(record, failure, self._dl_context, self._redactor)
        delay = 0.5
        while True:
            try:
                await self._dead_letters.send(record, headers)
                break
            except Exception as exc:
                # Counted by the sink (the producer knows what the broker refused), not twice.
                self.log.error(
                    "dead-letter write failed (%s: %s); retrying in %.1fs",
                    type(exc).__name__,
                    bounded_head(self._redactor.redact(str(exc)), 500),
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _DLQ_RETRY_MAX_S)
        # The producer counts dead letters (it knows when the broker acknowledged).
        error_class = type(failure.error).__name__
        self.log.error(
            "record %s[%d]@%d dead-lettered at stage %s: %s",
            record.topic,
            record.partition,
            record.offset,
            failure.stage.value,
            error_class,
        )

    def _count_handled(self, entity_type: str, records: Sequence[ConsumedRecord]) -> None:
        ops: dict[Operation, int] = {}
        for r in records:
            if r.mutation is not None:
                op = r.mutation.operation
                ops[op] = ops.get(op, 0) + 1
        for op, n in ops.items():
            self._metrics.records_handled.labels(self._label, entity_type, op.value).inc(n)

    def _count_error(self, stage: str, kind: FailureKind, exc: BaseException) -> None:
        self._metrics.errors.labels(self._label, stage, kind.value, type(exc).__name__).inc()


def _entity_key(record: ConsumedRecord) -> str:
    return record.mutation.entity_uuid if record.mutation is not None else ""
