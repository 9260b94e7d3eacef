"""Asyncio publishing of `MutationData` on aiokafka, so asyncio producers never block."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from connector.codec import MutationCodec
from connector.publisher.delivery import DeliveryFailure, DeliveryReport, PublishError
from connector.publisher.outgoing import OutgoingRecord, outgoing_record
from connector.topics import TopicSettings
from contracts import MutationData

__all__ = ["DEFAULT_AIOKAFKA_CONFIG", "AsyncMutationPublisher"]

DEFAULT_AIOKAFKA_CONFIG: Mapping[str, Any] = {
    "enable_idempotence": True,
    "acks": "all",
    "compression_type": "zstd",  # see DEFAULT_PRODUCER_CONFIG for the measurement
    "linger_ms": 5,
    "client_id": "iec-mutation-publisher",
}


@dataclass(slots=True)
class _Pending:
    record: OutgoingRecord
    result: asyncio.Future[DeliveryReport]
    report_at_flush: bool


class AsyncMutationPublisher:
    """The asyncio twin of `MutationPublisher`, with the same failure contract.

    `await publish(m)` queues `m` and returns an `asyncio.Future` of its `DeliveryReport`
    (or `PublishError`); a record refused at once raises `PublishError` from `publish`.
    `flush` raises `PublishError` for every failure since the previous flush;
    `publish_and_wait` returns the report or raises. `config` adds `AIOKafkaProducer` keyword
    arguments (``security_protocol``, ``sasl_mechanism``, ...) over `DEFAULT_AIOKAFKA_CONFIG`.
    Use ``async with`` (or `start` and `close`); one event loop per publisher. Bound any
    wait with ``asyncio.timeout()``.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topics: TopicSettings | None = None,
        codec: MutationCodec | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._topics = topics if topics is not None else TopicSettings()
        self._codec = codec if codec is not None else MutationCodec(topics=self._topics)
        self._config = {
            **DEFAULT_AIOKAFKA_CONFIG,
            **(config or {}),
            "bootstrap_servers": bootstrap_servers,
        }
        self._producer: AIOKafkaProducer | None = None
        self._failures: list[DeliveryFailure] = []
        self._closed = False

    async def start(self) -> None:
        """Connect to the cluster. Called by ``async with``."""
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(**self._config)
        await producer.start()
        self._producer = producer

    async def publish(self, mutation: MutationData) -> asyncio.Future[DeliveryReport]:
        """Queue `mutation`; the future resolves when the broker acknowledged it or gave up."""
        return (await self._publish(mutation, report_at_flush=True)).result

    async def publish_and_wait(self, mutation: MutationData) -> DeliveryReport:
        """Publish and wait for the acknowledgement; `PublishError` if it failed.

        Bound the wait with ``asyncio.timeout()``: when it expires the record may still be
        delivered, and if it fails, the next `flush` reports it.
        """
        pending = await self._publish(mutation, report_at_flush=False)
        try:
            return await asyncio.shield(pending.result)
        except asyncio.CancelledError:
            pending.report_at_flush = True
            raise

    async def flush(self) -> None:
        """Wait until everything queued is acknowledged or failed; `PublishError` with the
        failures since the last flush. If a timeout cancels the wait, failures are kept for
        the next flush."""
        await self._started().flush()
        failures, self._failures = self._failures, []
        if failures:
            raise PublishError(failures)

    async def close(self) -> None:
        """Flush (raising as `flush` does) and stop the client; idempotent."""
        producer, self._producer = self._producer, None
        if self._closed or producer is None:
            self._closed = True
            return
        try:
            await producer.flush()
        finally:
            self._closed = True
            await producer.stop()
        failures, self._failures = self._failures, []
        if failures:
            raise PublishError(failures)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _started(self) -> AIOKafkaProducer:
        if self._closed:
            raise RuntimeError("the publisher is closed")
        if self._producer is None:
            raise RuntimeError("the publisher is not started: use `async with` or `await start()`")
        return self._producer

    async def _publish(self, mutation: MutationData, *, report_at_flush: bool) -> _Pending:
        producer = self._started()
        record = outgoing_record(mutation, self._codec, self._topics)
        try:
            sent = await producer.send(
                record.topic, value=record.value, key=record.key, headers=record.headers
            )
        except KafkaError as exc:
            raise PublishError([record.failure(str(exc), retriable=exc.retriable)]) from exc
        pending = _Pending(record, asyncio.get_running_loop().create_future(), report_at_flush)
        sent.add_done_callback(lambda done: self._settle(pending, done))
        return pending

    def _settle(self, pending: _Pending, sent: asyncio.Future[Any]) -> None:
        record, result = pending.record, pending.result
        error = None if sent.cancelled() else sent.exception()
        if not sent.cancelled() and error is None:
            metadata = sent.result()
            if not result.done():
                result.set_result(
                    DeliveryReport(
                        topic=record.topic,
                        partition=metadata.partition,
                        offset=metadata.offset,
                        entity_uuid=record.entity_uuid,
                        event_id=record.event_id,
                    )
                )
            return
        failure = record.failure(
            str(error) if error is not None else "cancelled before delivery",
            retriable=bool(getattr(error, "retriable", False)),
        )
        if pending.report_at_flush:
            self._failures.append(failure)
        if not result.done():
            result.set_exception(PublishError([failure]))
            # Mark it retrieved: callers that rely on flush() need not await every future.
            result.exception()
