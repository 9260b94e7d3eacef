"""`MappingWriter`: durable mapping writes, many per wait, applied to the view once acknowledged.

A *flush* writes the changes of one `write` call (from a thread), or of every `awrite` call
made on an event loop in the same loop iteration (concurrent tasks: a group commit):

1. Produce all of them through the `AckedProducer` (acks=all, idempotent) and wait once;
   concurrent flushes share librdkafka's batching.
2. In the delivery thread, once every change has its report, apply the acknowledged ones to
   the `MappingView` at their offsets (its ordering rule: a newer record the tail already
   read is never overwritten), before any caller wakes: `find` sees them when it returns.
3. Count and time the flush (metrics per integration: records per flush, produce-to-ack
   latency, failures). Each caller then raises if one of *its* changes failed: the contract
   error of the worst failure (configuration, then permanent, then transient). Failed
   changes leave the view unchanged.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from connector.kafka import (
    AckedProducer,
    ClientConfig,
    Delivery,
    ErrorFamily,
    ProducerRecord,
    as_integration_error,
    family_of,
)
from connector.kafka.clients import Logger
from connector.mapping_store.changes import Change
from connector.mapping_store.view import MappingView
from connector.metrics import ConnectorMetrics
from contracts import IntegrationError, TransientError

__all__ = ["MappingWriter"]

# Which failure a call reports when several records failed differently: the one retrying
# cannot cure comes first.
_SEVERITY = {
    ErrorFamily.CONFIGURATION: 0,
    ErrorFamily.PERMANENT: 1,
    ErrorFamily.FATAL: 2,
    ErrorFamily.TRANSIENT: 3,
}


_Outcome = list[Delivery] | IntegrationError


@dataclass(slots=True)
class _Group:
    """The `awrite` calls of one loop iteration, flushed together: each caller waits on its
    own future (a cancelled caller cancels only its own wait)."""

    changes: list[Change] = field(default_factory=list)
    waiters: list[asyncio.Future[_Outcome]] = field(default_factory=list)

    def resolve(self, outcome: _Outcome | BaseException) -> None:
        for waiter in self.waiters:
            if waiter.done():
                continue
            if isinstance(outcome, BaseException):
                waiter.set_exception(outcome)
            else:
                waiter.set_result(outcome)


class MappingWriter:
    """Writes changes to one mapping topic and applies the acknowledged ones to `view`."""

    def __init__(
        self,
        *,
        topic: str,
        view: MappingView,
        client_config: ClientConfig,
        logger: Logger,
        name: str,
        integration_uuid: str,
        metrics: ConnectorMetrics,
        write_timeout_s: float = 30.0,
    ) -> None:
        """`write_timeout_s`: a change not acknowledged in that time fails (transient)."""
        self._topic = topic
        self._view = view
        self._producer = AckedProducer(
            client_config,
            name=name,
            logger=logger,
            settings={
                "linger.ms": 1,
                "compression.type": "lz4",
                # Java's partitioner: any client writing this topic agrees on partitions.
                "partitioner": "murmur2_random",
                # Never let a write recreate a deleted mapping topic with broker defaults.
                "allow.auto.create.topics": False,
            },
            delivery_timeout_s=write_timeout_s,
        )
        self._batch_size = metrics.mapping_write_batch_size.labels(integration_uuid)
        self._seconds = metrics.mapping_write_seconds.labels(integration_uuid)
        self._failures = metrics.mapping_write_failures.labels(integration_uuid)
        self._lock = threading.Lock()
        self.writes = 0
        """Changes acknowledged."""
        self.write_failures = 0
        """Changes that failed."""
        self.flushes = 0
        """Flushes: waits for acknowledgements (one per `write` call or `awrite` group)."""
        self._groups: dict[asyncio.AbstractEventLoop, _Group] = {}
        self._flushing: set[asyncio.Task[None]] = set()

    def warm_up(self) -> None:
        """Start the producer before the first write (see `AckedProducer.warm_up`)."""
        self._producer.warm_up([self._topic])

    def write(self, changes: Sequence[Change]) -> None:
        """Write `changes` as one flush; return once all are acknowledged and applied."""
        if not changes:
            return
        started = time.perf_counter()
        try:
            deliveries = self._producer.send_many(self._records(changes), settle=self._apply)
        except TimeoutError as exc:
            raise self._timed_out(len(changes), exc) from None
        self._account(deliveries, started)
        self._raise_failed(deliveries)

    async def awrite(self, changes: Sequence[Change]) -> None:
        """`write` for an event loop, without blocking it: the changes join this loop
        iteration's group, flushed once every task that is ready has run."""
        if not changes:
            return
        loop = asyncio.get_running_loop()
        group = self._groups.get(loop)
        if group is None:
            group = self._groups[loop] = _Group()
            loop.call_soon(self._flush_group, loop)
        start = len(group.changes)
        group.changes.extend(changes)
        waiter: asyncio.Future[_Outcome] = loop.create_future()
        group.waiters.append(waiter)
        outcome = await waiter
        if isinstance(outcome, IntegrationError):
            raise type(outcome)(str(outcome))  # a fresh instance per caller
        self._raise_failed(outcome[start : start + len(changes)])

    def close(self, timeout_s: float = 10.0) -> None:
        """Wait up to `timeout_s` for outstanding acknowledgements, then stop."""
        self._producer.close(timeout_s)

    # -- internals -----------------------------------------------------------------------

    def _records(self, changes: Sequence[Change]) -> list[ProducerRecord]:
        topic = self._topic
        return [ProducerRecord(topic, key, value) for key, value in changes]

    def _apply(self, deliveries: Sequence[Delivery]) -> None:
        # 2. In the delivery thread, before the caller wakes; in offset order within a call.
        apply_acked = self._view.apply_acked
        for delivery in deliveries:
            if delivery.ok:
                record = delivery.record
                assert record.key is not None
                apply_acked(record.key, record.value, delivery.partition, delivery.offset)

    def _flush_group(self, loop: asyncio.AbstractEventLoop) -> None:
        group = self._groups.pop(loop)
        task = loop.create_task(self._send_group(group))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _send_group(self, group: _Group) -> None:
        started = time.perf_counter()
        records = self._records(group.changes)
        try:
            deliveries = await self._producer.asend_many(records, settle=self._apply)
        except TimeoutError as exc:
            group.resolve(self._timed_out(len(records), exc))
            return
        except Exception as exc:  # closed producer, a bug in settling: every caller raises it
            group.resolve(exc)
            return
        self._account(deliveries, started)
        group.resolve(deliveries)

    def _account(self, deliveries: Sequence[Delivery], started: float) -> None:
        # 3. One flush: count and time it.
        failed = sum(1 for d in deliveries if not d.ok)
        self._seconds.observe(time.perf_counter() - started)
        self._batch_size.observe(len(deliveries))
        self._count(len(deliveries) - failed, failed)

    def _raise_failed(self, deliveries: Sequence[Delivery]) -> None:
        failed = [d for d in deliveries if not d.ok]
        if failed:
            raise self._error(failed, len(deliveries))

    def _count(self, ok: int, failed: int) -> None:
        with self._lock:
            self.flushes += 1
            self.writes += ok
            self.write_failures += failed
        if failed:
            self._failures.inc(failed)

    def _error(self, failed: Sequence[Delivery], total: int) -> IntegrationError:
        errors = [d.error for d in failed if d.error is not None]
        worst = min(errors, key=lambda e: _SEVERITY[family_of(e)])
        what = "mapping write" if total == 1 else f"{len(failed)} of {total} mapping writes"
        return as_integration_error(worst, f"{what} to {self._topic!r} failed")

    def _timed_out(self, count: int, exc: TimeoutError) -> TransientError:
        self._count(0, count)
        self._batch_size.observe(count)
        return TransientError(f"mapping write to {self._topic!r} failed: {exc}")
