"""`IntegrationRunner`: one integration's consumer group, from poll to commit.

Three actors share the work:

* the **Kafka thread** (a one-thread executor) makes every call on the confluent-kafka
  consumer, so the client is never used from two threads, and runs its rebalance callbacks;
* the **poll loop** (a coroutine) fetches, decodes, assembles batches, pauses fetching when
  the buffer is full and stores the offsets the commit tracker says are done;
* the **handle loop** (a coroutine) hands one batch at a time to the driver, retries,
  isolates poison records, dead-letters them, and marks records finished.

Handling one batch at a time keeps per-partition order. The poll loop keeps polling (with
partitions paused) while a batch is handled or retried, so a slow driver never exceeds
`max.poll.interval.ms`. Offsets are stored with `enable.auto.offset.store=false` and
committed by librdkafka's auto-commit, by `_commit_sync` on revoke, and at shutdown: only
ever positions the `CommitTracker` reports, i.e. records handled or dead-lettered.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from connector.codec.errors import CodecError
from connector.config.policies import BatchSettings
from connector.kafka.records import ConsumedRecord
from connector.metrics import METRICS, ConnectorMetrics
from connector.runtime.batching import Batch, BatchAssembler
from connector.runtime.commit_tracker import CommitTracker, TopicPartitionKey
from connector.runtime.decoding import decode_record
from connector.runtime.handling import BatchHandler
from connector.runtime.lag import lag_from_stats
from contracts import MutationData, TransientError

__all__ = ["IntegrationRunner", "RunnerSettings"]

_CONSUME_BATCH = 1000
_CONSUME_TIMEOUT_S = 0.1
_REGISTRY_BACKOFF_S = 5.0
_PAUSE_AFTER_S = 1.0
"""How long a full buffer may wait for the handle loop before fetching is paused."""


class Decoder(Protocol):
    def __call__(self, data: bytes) -> MutationData: ...


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    integration_uuid: str
    integration_name: str
    group_id: str
    topics: tuple[str, ...]
    consumer_config: dict[str, Any]
    batch: BatchSettings
    revoke_grace_s: float = 20.0
    entity_type_of: Callable[[str], str | None] = lambda topic: None
    """Entity type from a topic name (None for the retry topic: taken from the record)."""


class IntegrationRunner:
    """Runs one integration until `stop()`; see the module docstring for the design."""

    def __init__(
        self,
        settings: RunnerSettings,
        *,
        decode: Decoder,
        handler: BatchHandler,
        metrics: ConnectorMetrics = METRICS,
        logger: logging.Logger | None = None,
        on_assigned: Callable[[], object] | None = None,
    ) -> None:
        """`on_assigned` runs in the rebalance callback before new partitions are consumed
        (the app passes the mapping store's read barrier: a new owner of a partition sees
        the mappings its previous owner wrote moments before)."""
        self.settings = settings
        self._on_assigned = on_assigned
        self._decode = decode
        self._handler = handler
        self._metrics = metrics
        self._label = settings.integration_uuid
        self.log = logger or logging.getLogger(f"iec.runtime.{settings.integration_name}")
        self._tracker = CommitTracker()
        self._entity_types: dict[str, str] = {}
        """Entity type per topic name, cached (`entity_type_of` per record shows in profiles)."""
        self._assembler = BatchAssembler(
            max_records=settings.batch.max_records,
            max_bytes=settings.batch.max_bytes,
            linger_s=settings.batch.linger_ms / 1000,
        )
        self._kafka = concurrent.futures.ThreadPoolExecutor(1, f"kafka-{settings.integration_name}")
        self._consumer: Consumer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._in_flight: Batch | None = None
        self._handling: asyncio.Task[None] | None = None
        self._stop_task: asyncio.Future[None] | None = None
        self._registry_down_until = 0.0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._paused = False
        self._repause = False
        self._high_water = max(4 * settings.batch.max_records, 1000)
        self._high_water_bytes = 2 * settings.batch.max_bytes
        # health
        self.assigned_once = False
        self.last_beat = time.monotonic()
        self.failed: BaseException | None = None
        self.running = False

    # ---------------------------------------------------------------- lifecycle ---------
    async def run(self) -> None:
        """Consume until `stop()` is called; raises if the integration fails fatally."""
        self._loop = asyncio.get_running_loop()
        try:
            self._consumer = await self._on_kafka(self._create_consumer)
        except Exception as exc:
            self.failed = exc
            raise
        self.running = True
        self._metrics.integration_up.labels(self._label).set(1)
        poll = asyncio.create_task(self._poll_loop(), name=f"poll-{self._label}")
        handle = asyncio.create_task(self._handle_loop(), name=f"handle-{self._label}")
        try:
            done, _ = await asyncio.wait({poll, handle}, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        except Exception as exc:
            # Cancellation (the app giving up on a slow stop) is not a failure.
            self.failed = exc
            raise
        finally:
            for task in (poll, handle):
                task.cancel()
            await asyncio.gather(poll, handle, return_exceptions=True)
            self.running = False
            self._metrics.integration_up.labels(self._label).set(0)
            if self.failed is not None and self._consumer is not None:
                # A failed integration leaves its group at once (its partitions go to healthy
                # members) after committing what was done before the failure.
                await self.stop(0)

    async def stop(self, grace_s: float) -> None:
        """Graceful stop; safe to call more than once (later calls wait for the first).

        1. Stop fetching: the poll loop ends and the buffered, unstarted records are dropped.
        2. Let the in-flight batch finish, at most `grace_s`; then cancel it.
        3. Commit, synchronously, what is done.
        4. Close the consumer, which leaves the group.
        """
        if self._stop_task is None:
            self._stop_task = asyncio.ensure_future(self._stop(grace_s))
        await asyncio.shield(self._stop_task)

    async def _stop(self, grace_s: float) -> None:
        self._stopping = True
        self._wakeup.set()
        self._room.set()
        # 1. stop fetching; unstarted records are simply never marked finished
        self._assembler.clear()
        # 2. in-flight batch
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=grace_s)
        except TimeoutError:
            self.log.warning("in-flight batch did not finish within %.1fs; abandoning it", grace_s)
            handling = self._handling
            if handling is not None:
                handling.cancel()
                await asyncio.gather(handling, return_exceptions=True)
        if self._consumer is None:
            return
        # 3. commit what is done
        await self._on_kafka(self._commit_sync, None)
        # 4. leave the group
        await self._on_kafka(self._consumer.close)
        self._consumer = None
        self._kafka.shutdown(wait=False)

    def fail(self, error: BaseException) -> None:
        """Stop this integration because a collaborator failed (e.g. its mapping tail)."""
        self.failed = error

    def abort(self) -> None:
        """Stop at once: nothing unfinished is committed (stored offsets are done ones)."""
        self._stopping = True
        self._wakeup.set()
        self._room.set()

    @property
    def ready(self) -> bool:
        return self.assigned_once and self.failed is None

    # ---------------------------------------------------------------- Kafka thread ------
    async def _on_kafka(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._kafka, fn, *args)

    def _create_consumer(self) -> Consumer:
        config = dict(self.settings.consumer_config)
        config.update(
            {
                "group.id": self.settings.group_id,
                "enable.auto.commit": True,
                "enable.auto.offset.store": False,
                "partition.assignment.strategy": "cooperative-sticky",
                "error_cb": self._on_client_error,
                "stats_cb": self._on_stats,
                "logger": logging.getLogger(f"iec.kafka.{self.settings.integration_name}"),
            }
        )
        config.setdefault("auto.offset.reset", "earliest")
        config.setdefault("statistics.interval.ms", 15000)
        consumer = Consumer(config)
        consumer.subscribe(
            list(self.settings.topics),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        return consumer

    def _kafka_step(self, pause: bool | None) -> list[Message]:
        """One turn in the Kafka thread: store done offsets, pause/resume, fetch."""
        consumer = self._consumer
        assert consumer is not None
        self._store_done_offsets(consumer)
        if pause is not None or self._repause:
            assignment = consumer.assignment()
            if assignment:
                if pause or (pause is None and self._paused):
                    consumer.pause(assignment)
                else:
                    consumer.resume(assignment)
            self._repause = False
        return consumer.consume(_CONSUME_BATCH, _CONSUME_TIMEOUT_S)

    def _store_done_offsets(self, consumer: Consumer) -> None:
        offsets = self._tracker.committable()
        if not offsets:
            return
        try:
            consumer.store_offsets(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()]
            )
        except KafkaException as exc:
            # _STATE: a partition was revoked between tracking and storing; its offsets were
            # committed (or abandoned) by the revoke protocol already.
            self.log.debug("store_offsets: %s", exc)
            return  # not marked: stored again next turn (revoked partitions are gone by then)
        self._tracker.mark_committed(offsets)

    def _commit_sync(self, partitions: list[TopicPartitionKey] | None) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        # Everything finished is either stored already or reported now; commit the union.
        self._store_done_offsets(consumer)
        try:
            consumer.commit(asynchronous=False)
            self._metrics.commits.labels(self._label, "ok").inc()
        except KafkaException as exc:
            code = exc.args[0].code() if exc.args else None
            if code != KafkaError._NO_OFFSET:
                self._metrics.commits.labels(self._label, "failed").inc()
                self.log.warning("offset commit failed: %s", exc)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        if keys and self._on_assigned is not None:
            self._on_assigned()
        self._tracker.assign(keys)
        self.assigned_once = True
        self._repause = self._paused
        self._metrics.rebalances.labels(self._label, "assign").inc()
        self._metrics.assigned_partitions.labels(self._label).set(len(self._tracker.assigned()))
        self.log.info("assigned %s", _fmt(keys))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Revoke protocol, in the Kafka thread, before the partitions leave us.

        1. On the event loop: drop buffered records of these partitions and wait (at most
           `revoke_grace_s`) for an in-flight batch that holds any of them.
        2. Commit synchronously what is done for them.
        3. Forget them: a batch that finishes later can no longer commit for them.
        """
        keys = [(tp.topic, tp.partition) for tp in partitions]
        # 1. quiesce
        loop = self._loop
        if loop is not None and loop.is_running() and not self._stopping:
            future = asyncio.run_coroutine_threadsafe(self._quiesce(keys), loop)
            try:
                future.result(timeout=self.settings.revoke_grace_s + 1)
            except (TimeoutError, concurrent.futures.TimeoutError):
                self.log.warning("revoke: in-flight work of %s abandoned after grace", _fmt(keys))
            except BaseException as exc:  # the loop is closing: still commit what is done
                self.log.warning("revoke: quiesce failed: %r", exc)
        # 2. commit what is done. Stored as well as committed: with auto-commit on,
        # librdkafka commits the *stored* offset once this callback returns, which would
        # otherwise roll back the commit made here.
        offsets = self._tracker.committable(keys)
        if offsets:
            positions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
            try:
                consumer.store_offsets(offsets=positions)
                consumer.commit(offsets=positions, asynchronous=False)
                self._metrics.commits.labels(self._label, "ok").inc()
            except KafkaException as exc:
                self._metrics.commits.labels(self._label, "failed").inc()
                self.log.warning("revoke: commit failed: %s", exc)
        # 3. forget
        self._tracker.revoke(keys)
        self._metrics.rebalances.labels(self._label, "revoke").inc()
        self._metrics.assigned_partitions.labels(self._label).set(len(self._tracker.assigned()))
        self.log.info("revoked %s", _fmt(keys))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost, not revoked: another member may own them already, so commit nothing.
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self._tracker.revoke(keys)
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._assembler.drop_partitions, keys)
        self._metrics.rebalances.labels(self._label, "lost").inc()
        self.log.warning("lost %s", _fmt(keys))

    def _on_client_error(self, error: KafkaError) -> None:
        if error.fatal():
            self.log.error("fatal Kafka client error: %s", error)
            self.failed = KafkaException(error)
        else:
            self.log.warning("Kafka client: %s", error)

    def _on_stats(self, stats_json: str) -> None:
        for (topic, partition), lag in lag_from_stats(stats_json).items():
            self._metrics.consumer_lag.labels(self._label, topic, str(partition)).set(lag)

    async def _quiesce(self, keys: list[TopicPartitionKey]) -> None:
        self._assembler.drop_partitions(keys)
        batch = self._in_flight
        leaving = set(keys)
        if batch is None or not any((r.topic, r.partition) in leaving for r in batch.records):
            return
        handling = self._handling
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=self.settings.revoke_grace_s)
        except TimeoutError:
            # Still retrying (downstream down?): work for partitions we no longer own would
            # only duplicate the new owner's. Keep going only if some records stay ours.
            if (
                handling is not None
                and handling is self._handling
                and all((r.topic, r.partition) in leaving for r in batch.records)
            ):
                handling.cancel()

    # ---------------------------------------------------------------- poll loop ---------
    async def _poll_loop(self) -> None:
        while not self._stopping:
            self.last_beat = time.monotonic()
            if self.failed is not None:
                raise self.failed
            if not self._paused and self._full():
                await self._wait_for_room()
            pause = self._backpressure()
            messages: list[Message] = await self._on_kafka(self._kafka_step, pause)
            if not messages or self._stopping:
                continue
            now = time.monotonic()
            consumed: Counter[str] = Counter()
            for message in messages:
                if message.error() is not None:
                    self._client_message_error(message)
                    continue
                record = self._to_record(message)
                if record is None:
                    continue
                consumed[record.topic] += 1
                self._assembler.add(record, now)
            for topic, n in consumed.items():
                self._metrics.records_consumed.labels(self._label, topic).inc(n)
            self._wakeup.set()

    def _full(self) -> bool:
        a = self._assembler
        return a.buffered_records >= self._high_water or a.buffered_bytes >= self._high_water_bytes

    async def _wait_for_room(self) -> None:
        """Wait (at most `_PAUSE_AFTER_S`) without fetching until the buffer is below its mark.

        A full buffer is usually drained within milliseconds. Pausing at once would throw
        away librdkafka's prefetched records (a pause purges its fetch queue), block the next
        consume for its whole timeout, and fetch everything again on resume: at 1000 records
        per consume that churn held the runtime to ~2k records/s. Not calling consume for up
        to a second is safe: librdkafka's own queue is bounded (`queued.max.messages.kbytes`)
        and `max.poll.interval.ms` is minutes. A driver slower than that gets the pause.
        """
        deadline = time.monotonic() + _PAUSE_AFTER_S
        while self._full() and not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), timeout=remaining)

    def _backpressure(self) -> bool | None:
        """True to pause, False to resume, None to leave fetching as it is."""
        a = self._assembler
        full = self._full()
        if full and not self._paused:
            self._paused = True
            self._metrics.paused.labels(self._label).set(1)
            return True
        low = (
            a.buffered_records <= self._high_water // 2
            and a.buffered_bytes <= self._high_water_bytes // 2
        )
        if self._paused and low:
            self._paused = False
            self._metrics.paused.labels(self._label).set(0)
            return False
        return None

    def _to_record(self, message: Message) -> ConsumedRecord | None:
        topic: str = message.topic()  # type: ignore[assignment]  # set on non-error messages
        partition: int = message.partition()  # type: ignore[assignment]
        offset: int = message.offset()  # type: ignore[assignment]
        generation = self._tracker.receive((topic, partition), offset)
        if generation is None:
            return None
        entity_type = self._entity_types.get(topic)
        if entity_type is None:
            entity_type = self._entity_types[topic] = self.settings.entity_type_of(topic) or ""
        record = ConsumedRecord(
            topic=topic,
            partition=partition,
            offset=offset,
            key=message.key(),  # bytes or None: a plain Consumer has no deserializer
            value=message.value(),
            headers=message.headers(),  # type: ignore[arg-type]  # list of (str, bytes) from the consumer
            timestamp_ms=message.timestamp()[1],
            generation=generation,
            entity_type=entity_type,
        )
        if not entity_type:
            # The retry topic mixes entity types: decode now to batch the record by its type.
            self._decode_into(record)
            # Undecodable for now: batched under "" (the handler regroups after a re-decode;
            # a type of its own here would fail the entity-type check of that re-decode).
            record.entity_type = record.mutation.entity_type if record.mutation is not None else ""
        return record

    def _decode_into(self, record: ConsumedRecord) -> None:
        """Set `record.mutation`, or `record.error` when the value is not a valid mutation."""
        value = record.value
        if value and value[0] == 0 and time.monotonic() < self._registry_down_until:
            # The registry just failed: don't block the loop on it for every record of the
            # batch; the handler retries these decodes, off the loop, with backoff.
            record.error = TransientError("schema registry unavailable; decode deferred")
            return
        try:
            record.mutation = decode_record(record, self._decode)
        except (CodecError, TransientError) as exc:
            # Transient (schema registry unreachable): the handler retries the decode with
            # backoff before it would dead-letter the record.
            if isinstance(exc, TransientError):
                self._registry_down_until = time.monotonic() + _REGISTRY_BACKOFF_S
            record.error = exc

    def _client_message_error(self, message: Message) -> None:
        error = message.error()
        if error is None:
            return
        if error.code() == KafkaError._PARTITION_EOF:
            return
        self._metrics.errors.labels(self._label, "consume", "transient", error.name()).inc()
        if error.fatal():
            self.failed = KafkaException(error)
        else:
            self.log.warning("consume error: %s", error)

    # ---------------------------------------------------------------- handle loop -------
    async def _handle_loop(self) -> None:
        while not self._stopping:
            batch = self._assembler.next_batch(time.monotonic())
            if batch is None:
                deadline = self._assembler.next_deadline()
                timeout = 0.5 if deadline is None else max(0.0, deadline - time.monotonic())
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=timeout)
                continue
            self._room.set()
            self._in_flight = batch
            self._idle.clear()
            try:
                current = self._tracker.generations()
                records = [
                    r for r in batch.records if current.get((r.topic, r.partition)) == r.generation
                ]
                if records:
                    # Decoded only now: buffered records stay raw bytes (one object each), so
                    # the garbage collector never walks thousands of waiting payloads.
                    for record in records:
                        if record.mutation is None and record.error is None:
                            self._decode_into(record)
                    # A task of its own, so the revoke protocol can abandon it (cancel) when
                    # every record it holds belongs to partitions that are leaving.
                    self._handling = asyncio.create_task(
                        self._handler.handle(batch.entity_type, records)
                    )
                    try:
                        await asyncio.wait({self._handling})
                    except asyncio.CancelledError:
                        # The loop itself is cancelled (integration failed or stopping):
                        # the batch must not go on writing downstream without an owner.
                        self._handling.cancel()
                        raise
                    if self._handling.cancelled():
                        self.log.warning("abandoned a batch of revoked partitions")
                    else:
                        self._handling.result()  # a fatal error propagates
                        self._finish(records)
            finally:
                self._in_flight = None
                self._handling = None
                self._idle.set()

    def _finish(self, records: Sequence[ConsumedRecord]) -> None:
        self._tracker.finish_many(((r.topic, r.partition), r.offset, r.generation) for r in records)


def _fmt(keys: list[TopicPartitionKey]) -> str:
    return ", ".join(f"{t}[{p}]" for t, p in keys) or "nothing"
