"""`IntegrationRunner`: one integration's consumer group, from fetch to commit.

The parts, each in a module of its own:

* `GroupConsumer` — the confluent-kafka consumer on its own thread: fetch, pause, rebalance
  callbacks, and commits of what the `CommitTracker` says is done (promptly, on revoke and
  at shutdown);
* `KeyScheduler` — fetched records held per ordering key (the entity UUID, or the
  partition), handed over in works of one entity type, one work per key at a time;
* `FlowControl` — pauses fetching while too much is held (waiting keys included);
* `Dispatcher` + `WorkHandler` — up to `concurrency` works in flight: the driver call,
  retries (a failing key is parked, the others go on), isolation, dead letters.

Two coroutines drive them: the **poll loop** fetches, turns messages into records and adds
them to the scheduler; the **dispatch loop** starts works as they become due. The poll loop
keeps polling (with partitions paused when the buffer is full) whatever the driver does, so
a slow driver never exceeds `max.poll.interval.ms`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException, Message

from connector.config.policies import BatchSettings
from connector.kafka.errors import ErrorFamily, describe, family_of
from connector.kafka.records import ConsumedRecord
from connector.metrics import METRICS, ConnectorMetrics
from connector.runtime.commit_tracker import ALREADY_DONE, CommitTracker, TopicPartitionKey
from connector.runtime.decoding import RecordDecoder
from connector.runtime.dispatch import Dispatcher
from connector.runtime.flow_control import FlowControl
from connector.runtime.group_consumer import CONSUME_BATCH, ConsumerHooks, GroupConsumer
from connector.runtime.handling import WorkHandler
from connector.runtime.scheduling import KeyScheduler
from contracts import ConfigurationError

__all__ = ["IntegrationRunner", "Ordering", "RunnerSettings", "buffer_marks", "ordering_key"]

Ordering = Literal["key", "partition"]

_MAX_BUFFER_RECORDS = 100_000
_MIN_BUFFER_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    integration_uuid: str
    integration_name: str
    group_id: str
    topics: tuple[str, ...]
    consumer_config: dict[str, Any]
    batch: BatchSettings
    concurrency: int = 1
    ordering: Ordering = "key"
    revoke_grace_s: float = 20.0
    commit_interval_s: float = 0.2
    entity_type_of: Callable[[str], str | None] = lambda topic: None
    """Entity type from a topic name (None for the retry topic: taken from the record)."""


def ordering_key(ordering: Ordering) -> Callable[[ConsumedRecord], Hashable]:
    """Records with equal keys are handled one after another, in offset order.

    ``key``: the record key (the entity UUID); a record without a key is its own key.
    ``partition``: the topic partition, as a plain consumer would.
    """
    if ordering == "partition":
        return lambda r: (r.topic, r.partition)

    def by_key(record: ConsumedRecord) -> Hashable:
        key = record.key
        return key if key is not None else (record.topic, record.partition, record.offset)

    return by_key


def buffer_marks(batch: BatchSettings, concurrency: int) -> tuple[int, int]:
    """(records, bytes) the runner may hold before it pauses fetching.

    Enough to fill every work slot twice over (a work holds at most `max_records`, of many
    keys or, for drivers that handle one record at a time, of one key: a fetch brings a few
    partitions' records at a time, so the buffer must span enough keys to keep every slot
    busy), and at least four batches; records at most `_MAX_BUFFER_RECORDS`, bytes at least
    twice a batch and 64 MiB.
    """
    records = max(1000, 4 * batch.max_records, 2 * concurrency * batch.max_records)
    return min(records, _MAX_BUFFER_RECORDS), max(2 * batch.max_bytes, _MIN_BUFFER_BYTES)


class IntegrationRunner:
    """Runs one integration until `stop()`; see the module docstring for the design."""

    def __init__(
        self,
        settings: RunnerSettings,
        *,
        handler: WorkHandler,
        decoder: RecordDecoder | None = None,
        per_record: bool = False,
        metrics: ConnectorMetrics = METRICS,
        logger: logging.Logger | None = None,
        on_assigned: Callable[[], object] | None = None,
    ) -> None:
        """`on_assigned` runs in the rebalance callback before new partitions are consumed
        (the app passes the mapping store's read barrier: a new owner of a partition sees
        the mappings its previous owner wrote moments before)."""
        self.settings = settings
        self._on_assigned = on_assigned
        self._decoder = decoder
        self._metrics = metrics
        self._label = settings.integration_uuid
        self.log = logger or logging.getLogger(f"iec.runtime.{settings.integration_name}")
        self._tracker = CommitTracker()
        self._entity_types: dict[str, str] = {}
        """Entity type per topic name, cached (`entity_type_of` per record shows in profiles)."""
        batch = settings.batch
        self.scheduler = KeyScheduler(
            max_records=batch.max_records,
            max_bytes=batch.max_bytes,
            linger_s=batch.linger_ms / 1000,
            key_of=ordering_key(settings.ordering),
            one_key_per_work=per_record,
        )
        high_records, high_bytes = buffer_marks(batch, settings.concurrency)
        self._flow: FlowControl[TopicPartitionKey] = FlowControl(
            high_records=high_records, high_bytes=high_bytes
        )
        self._room = asyncio.Event()
        self.dispatcher = Dispatcher(
            scheduler=self.scheduler,
            handler=handler,
            tracker=self._tracker,
            concurrency=settings.concurrency,
            label=self._label,
            metrics=metrics,
            logger=self.log,
            on_room=self._room.set,
        )
        self._consumer = GroupConsumer(
            name=settings.integration_name,
            label=self._label,
            group_id=settings.group_id,
            topics=settings.topics,
            client_config=settings.consumer_config,
            tracker=self._tracker,
            hooks=ConsumerHooks(
                assigned=self._assigned,
                revoking=self._revoking,
                lost=self._lost,
                failed=self.fail,
            ),
            commit_interval_s=settings.commit_interval_s,
            metrics=metrics,
            logger=self.log,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_task: asyncio.Future[None] | None = None
        self._stopping = False
        # health
        self.assigned_once = False
        self.partitions_lost = False
        """The group took our partitions away (session timeout, e.g. a broker outage) and
        has not given any back yet: not ready (ops: readiness follows assignment loss)."""
        self.last_beat = time.monotonic()
        self.failed: BaseException | None = None
        self.running = False

    # ---------------------------------------------------------------- lifecycle ---------
    async def run(self) -> None:
        """Consume until `stop()` is called; raises if the integration fails fatally."""
        self._loop = asyncio.get_running_loop()
        try:
            await self._consumer.call(self._consumer.create)
        except Exception as exc:
            self.failed = exc
            raise
        self.running = True
        self._metrics.integration_up.labels(self._label).set(1)
        poll = asyncio.create_task(self._poll_loop(), name=f"poll-{self._label}")
        dispatch = asyncio.create_task(
            self.dispatcher.run(lambda: self._stopping), name=f"dispatch-{self._label}"
        )
        try:
            done, _ = await asyncio.wait({poll, dispatch}, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    raise error
        except Exception as exc:
            # Cancellation (the app giving up on a slow stop) is not a failure.
            self.failed = exc
            raise
        finally:
            for task in (poll, dispatch):
                task.cancel()
            await asyncio.gather(poll, dispatch, return_exceptions=True)
            self.running = False
            self._metrics.integration_up.labels(self._label).set(0)
            if self.failed is not None and self._consumer.open:
                # A failed integration leaves its group at once (its partitions go to healthy
                # members) after committing what was done before the failure.
                await self.stop(0)

    async def stop(self, grace_s: float) -> None:
        """Graceful stop; safe to call more than once (later calls wait for the first).

        1. Stop fetching: the poll loop ends and the held, unstarted records are dropped.
        2. Let the works in flight finish, at most `grace_s`; then cancel them.
        3. Commit, synchronously, what is done.
        4. Close the consumer, which leaves the group.
        """
        if self._stop_task is None:
            self._stop_task = asyncio.ensure_future(self._stop(grace_s))
        await asyncio.shield(self._stop_task)

    async def _stop(self, grace_s: float) -> None:
        self._stopping = True
        self.dispatcher.wakeup.set()
        self._room.set()
        # 1. stop fetching; unstarted records are simply never marked finished
        self.scheduler.clear()
        # 2. works in flight
        await self.dispatcher.drain(grace_s)
        if not self._consumer.open:
            return
        # 3. commit what is done
        await self._consumer.call(self._consumer.commit_sync)
        # 4. leave the group
        await self._consumer.call(self._consumer.close)

    def fail(self, error: BaseException) -> None:
        """Stop this integration because a collaborator failed (e.g. its mapping tail)."""
        self.failed = error

    def abort(self) -> None:
        """Stop at once: nothing unfinished is committed (commits are of done records only)."""
        self._stopping = True
        self.dispatcher.wakeup.set()
        self._room.set()

    @property
    def ready(self) -> bool:
        return self.assigned_once and not self.partitions_lost and self.failed is None

    # ---------------------------------------------------------------- rebalances --------
    def _assigned(self, keys: list[TopicPartitionKey]) -> None:
        if keys and self._on_assigned is not None:
            self._on_assigned()
        self.assigned_once = True
        if keys:
            self.partitions_lost = False

    def _revoking(self, keys: list[TopicPartitionKey]) -> None:
        """In the Kafka thread: quiesce the leaving partitions' work on the event loop."""
        loop = self._loop
        if loop is None or not loop.is_running() or self._stopping:
            return
        future = asyncio.run_coroutine_threadsafe(self._quiesce(keys), loop)
        try:
            future.result(timeout=self.settings.revoke_grace_s + 1)
        except (TimeoutError, concurrent.futures.TimeoutError):
            self.log.warning("revoke: in-flight work of %s abandoned after grace", keys)
        except BaseException as exc:  # the loop is closing: still commit what is done
            self.log.warning("revoke: quiesce failed: %r", exc)

    async def _quiesce(self, keys: list[TopicPartitionKey]) -> None:
        self._forget(keys)
        await self.dispatcher.quiesce(keys, self.settings.revoke_grace_s)

    def _forget(self, keys: list[TopicPartitionKey]) -> None:
        """On the event loop: drop the held records of partitions that leave us."""
        self.scheduler.drop_partitions(keys)
        self._flow.forget(keys)

    def _lost(self, keys: list[TopicPartitionKey]) -> None:
        if keys:
            self.partitions_lost = True
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._forget, keys)

    # ---------------------------------------------------------------- poll loop ---------
    async def _poll_loop(self) -> None:
        scheduler, flow, consumer = self.scheduler, self._flow, self._consumer
        delivered: set[TopicPartitionKey] = set()
        while not self._stopping:
            self.last_beat = time.monotonic()
            if self.failed is not None:
                raise self.failed
            if not flow.holding and flow.full(scheduler.queued_records, scheduler.queued_bytes):
                await self._wait_for_room()
            # Pause only partitions with records held: a key may wait for a record of
            # another partition (its category), which must keep coming (flow_control.py).
            holding = flow.holding
            plan = flow.plan(
                scheduler.queued_records,
                scheduler.queued_bytes,
                time.monotonic(),
                delivered=delivered,
                held=scheduler.held_partitions,
            )
            if flow.holding != holding:
                self._metrics.paused.labels(self._label).set(1 if flow.holding else 0)
            messages: list[Message] = await consumer.call(consumer.step, plan.pause, plan.resume)
            # A consume that did not fill up waited its whole timeout: nothing more is
            # queued right now, so partial works need not linger for more.
            scheduler.flush_partial(len(messages) < CONSUME_BATCH)
            delivered = set()
            if not messages or self._stopping:
                self.dispatcher.wakeup.set()
                continue
            delivered = self._add(messages, time.monotonic(), flow.holding)
            self.dispatcher.publish_gauges()  # also while every key is parked (no work ends)
            self.dispatcher.wakeup.set()

    def _add(
        self, messages: list[Message], now: float, note_partitions: bool = False
    ) -> set[TopicPartitionKey]:
        """Fetched messages to records, tracked and queued in the scheduler; returns their
        partitions if `note_partitions` (else an empty set: it costs at full speed)."""
        fetched: list[tuple[Message, str, int, int]] = []
        for message in messages:
            if message.error() is not None:
                self._client_message_error(message)
                continue
            topic: str = message.topic()  # type: ignore[assignment]  # set on non-error messages
            partition: int = message.partition()  # type: ignore[assignment]
            offset: int = message.offset()  # type: ignore[assignment]
            fetched.append((message, topic, partition, offset))
        generations = self._tracker.receive_many([((t, p), o) for _, t, p, o in fetched])
        consumed: Counter[str] = Counter()
        skipped = 0
        add = self.scheduler.add
        for (message, topic, partition, offset), generation in zip(
            fetched, generations, strict=True
        ):
            if not generation:  # not ours (None), or finished by the previous owner
                skipped += generation == ALREADY_DONE
                continue
            consumed[topic] += 1
            add(self._to_record(message, topic, partition, offset, generation), now)
        for topic, n in consumed.items():
            self._metrics.records_consumed.labels(self._label, topic).inc(n)
        if skipped:
            self._metrics.records_skipped.labels(self._label).inc(skipped)
        return {(t, p) for _, t, p, _ in fetched} if note_partitions else set()

    async def _wait_for_room(self) -> None:
        """Wait (at most `FlowControl.wait_before_pause_s`) without fetching until the
        buffer is below its mark; see `connector.runtime.flow_control` for why. Finished
        work is still committed meanwhile, every commit interval."""
        scheduler, flow, consumer = self.scheduler, self._flow, self._consumer
        deadline = time.monotonic() + flow.wait_before_pause_s
        slice_s = max(self.settings.commit_interval_s, 0.05)
        while flow.full(scheduler.queued_records, scheduler.queued_bytes) and not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), timeout=min(remaining, slice_s))
            await consumer.call(consumer.commit_due)

    def _to_record(
        self, message: Message, topic: str, partition: int, offset: int, generation: int
    ) -> ConsumedRecord:
        entity_type = self._entity_types.get(topic)
        if entity_type is None:
            entity_type = self._entity_types[topic] = self.settings.entity_type_of(topic) or ""
        # Positional (keywords cost measurably at tens of thousands of records per second):
        # topic, partition, offset, key, value, headers, timestamp, generation, mutation,
        # entity type. A plain Consumer has no deserializers: key and value are bytes.
        record = ConsumedRecord(
            topic,
            partition,
            offset,
            message.key(),
            message.value(),
            message.headers(),  # type: ignore[arg-type]  # list of (str, bytes) from the consumer
            message.timestamp()[1],
            generation,
            None,
            entity_type,
        )
        if not entity_type and self._decoder is not None:
            # The retry topic mixes entity types: decode now to batch the record by its type.
            self._decoder.decode_into(record)
            # Undecodable for now: batched under "" (the handler regroups after a re-decode;
            # a type of its own here would fail the entity-type check of that re-decode).
            record.entity_type = record.mutation.entity_type if record.mutation is not None else ""
        return record

    def _client_message_error(self, message: Message) -> None:
        error = message.error()
        if error is None:
            return
        if error.code() == KafkaError._PARTITION_EOF:
            return
        self._metrics.errors.labels(self._label, "consume", "transient", error.name()).inc()
        if error.fatal():
            self.failed = KafkaException(error)
        elif family_of(error) is ErrorFamily.CONFIGURATION:
            # Refused ACLs or credentials (GROUP_/TOPIC_AUTHORIZATION_FAILED) never pass by
            # themselves: stop the integration with a line an operator can act on.
            self.failed = ConfigurationError(
                f"the cluster refused the consumer of group {self.settings.group_id} "
                f"({describe(error)}): check its ACLs (Read on the group and on "
                f"{', '.join(self.settings.topics)})"
            )
        else:
            self.log.warning("consume error: %s", error)
