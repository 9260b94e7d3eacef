"""`KafkaMappingStore`: the `EntityMappingService` of one integration, on a compacted topic.

Every instance holds the whole topic in memory (a global table: drivers look up mappings of
other entity types and other partitions), restores it before work starts, keeps tailing it
for writes of other instances, and writes synchronously: a mapping is acknowledged by the
broker (``acks=all``, idempotent producer) before `create` returns, so a crash after an
external create never leads to a second create on replay.

Threads: the caller's threads call `find`/`create`/...; one *tail* thread owns the consumer
(restore, then tailing); one *delivery* thread serves the producer's delivery reports (only
once something was written). See `connector.mapping_store.view` for the ordering rule and why
lookups need no lock.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, NoReturn

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]
from tenacity import (
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

from connector.codec.errors import CodecError
from connector.kafka import (
    AckedProducer,
    Delivery,
    ErrorFamily,
    ProducerRecord,
    as_integration_error,
    describe,
    error_of,
    family_of,
    new_admin,
    new_consumer,
)
from connector.mapping_store.record import (
    MappingRecord,
    decode_record,
    encode_record,
    mapping_key,
    split_key,
    to_mapping_data,
)
from connector.mapping_store.topic import ensure_mapping_topic
from connector.mapping_store.view import MappingView
from contracts import (
    ConfigurationError,
    FatalError,
    IntegrationError,
    MappingData,
    NewMapping,
    TransientError,
    thaw,
)

__all__ = ["KafkaMappingStore", "MappingStoreStats"]


_PROGRESS_EVERY_S = 2.0
_WARN_EVERY_S = 30.0
_LATEST = OffsetSpec.latest()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class MappingStoreStats:
    """A snapshot for metrics and health: counts, restore figures, tail position and lag."""

    integration_uuid: str
    topic: str
    ready: bool
    mappings: int
    restore_seconds: float | None
    restored_records: int
    rejected_records: int
    undecodable_values: int
    applied_offsets: dict[int, int]
    tail_lag_records: int
    pending_own_writes: int
    writes: int
    write_failures: int


class KafkaMappingStore:
    """Mappings of one integration, kept in a compacted topic and held in memory.

    Lifecycle: `start` (check/create the topic, restore, then tail) → use → `close`. Lookups
    and writes before the restore finished raise `TransientError`; `ready` tells when.
    """

    def __init__(
        self,
        *,
        integration_uuid: str,
        topic: str,
        client_config: Mapping[str, str | int | float | bool],
        clock: Callable[[], float] = time.time,
        logger: logging.Logger | None = None,
        replication_factor: int | None = None,
        write_timeout_s: float = 30.0,
        decode_cache_size: int = 16_384,
        fetch_batch: int = 10_000,
    ) -> None:
        """`client_config`: librdkafka settings common to all clients (bootstrap servers,
        security). `clock`: wall-clock seconds for the records' timestamps.
        `replication_factor`: for a topic this store creates (None: the broker's default).
        `write_timeout_s`: a write not acknowledged in that time raises `TransientError`."""
        if not integration_uuid:
            raise ValueError("integration_uuid must be non-empty")
        self._integration_uuid = integration_uuid
        self._topic = topic
        self._client_config: dict[str, Any] = dict(client_config)
        self._clock = clock
        self._log = logging.LoggerAdapter(
            logger or logging.getLogger(__name__),
            {"integration": integration_uuid, "topic": topic},
        )
        self._replication_factor = replication_factor
        self._write_timeout_s = write_timeout_s
        self._fetch_batch = fetch_batch

        self._view = MappingView()
        self._get = self._view.get
        self._decode = functools.lru_cache(maxsize=decode_cache_size)(to_mapping_data)

        self._topic_checked = False
        self._consumer: Any = None
        self._partitions: list[int] = []
        self._eof: dict[int, int] = {}
        self._tail_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._restored = threading.Event()
        self._progress = threading.Condition()
        self._failure: IntegrationError | None = None
        self._ready = False
        self._closed = False
        self._counter_lock = threading.Lock()
        self._warned_at: dict[int, float] = {}

        self._admin: AdminClient | None = None
        self._admin_lock = threading.Lock()
        self._producer = AckedProducer(
            self._client_config,
            name=f"mapping-writes-{integration_uuid}",
            logger=self._log,
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

        self.restore_seconds: float | None = None
        """Duration of the restore (None until it finished)."""
        self.restored_records = 0
        """Records read during the restore (live mappings plus superseded ones and tombstones)."""
        self.undecodable_values = 0
        self.tail_lag_records = 0
        """Records on the topic the tail has not read yet (from the last fetch's high watermark)."""
        self.writes = 0
        self.write_failures = 0

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def integration_uuid(self) -> str:
        return self._integration_uuid

    @property
    def topic(self) -> str:
        return self._topic

    @property
    def ready(self) -> bool:
        """True once the restore finished, while the tail is healthy and the store open."""
        return self._ready

    @property
    def failure(self) -> IntegrationError | None:
        """Why the tail stopped, if it did (the store is then no longer `ready`)."""
        return self._failure

    def ensure_topic(self, create: bool = True, *, timeout_s: float = 30.0) -> bool:
        """Create the mapping topic if missing (when `create`), and refuse one that is not
        compacted with `ConfigurationError`. Returns True if this call created it."""
        admin = self._admin_client()
        try:
            created = ensure_mapping_topic(
                admin,
                self._topic,
                create=create,
                replication_factor=self._replication_factor,
                timeout_s=timeout_s,
                logger=self._log,
            )
        finally:
            admin.poll(0)  # forwards librdkafka's log lines to `logger`
        self._topic_checked = True
        return created

    def start(
        self, timeout_s: float | None = 60.0, *, create_topic: bool = True, follow: bool = True
    ) -> None:
        """Check the topic, then restore it in the background and (if `follow`) keep tailing.

        1. `ensure_topic(create_topic)` unless done already (refuses a non-compacted topic).
        2. Take the end offsets of every partition now: the restore target.
        3. Assign every partition at its beginning (no consumer group, no committed offsets).
        4. The tail thread applies batches until every partition reached its target, marks
           the store ready, then keeps applying new records (unless `follow` is False).
        5. Wait up to `timeout_s` for readiness (None: return at once; see `wait_ready`).
        """
        if self._closed:
            raise RuntimeError("the mapping store is closed")
        if self._tail_thread is not None:
            raise RuntimeError("the mapping store was already started")
        request_timeout_s = min(timeout_s or 30.0, 30.0)
        # 1. The topic.
        if not self._topic_checked:
            self.ensure_topic(create=create_topic, timeout_s=request_timeout_s)
        started = time.monotonic()
        consumer = new_consumer(
            self._client_config,
            logger=self._log,
            # Required by the client; never joins (assign, not subscribe) nor commits.
            group_id=f"{self._topic}.reader",
            settings={
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
                "fetch.max.bytes": 64 * 1024 * 1024,
                "max.partition.fetch.bytes": 16 * 1024 * 1024,
                "queued.max.messages.kbytes": 64 * 1024,
                "fetch.wait.max.ms": 100,
            },
        )
        try:
            # 2. Restore targets.
            # A topic created a moment ago may not have partition leaders yet.
            partitions = Retrying(
                stop=stop_after_delay(request_timeout_s),
                wait=wait_fixed(0.05),
                retry=retry_if_result(lambda found: found is None),
                retry_error_callback=lambda _state: None,
            )(self._led_partitions, consumer, request_timeout_s)
            if partitions is None:
                raise TransientError(f"no partition leaders for mapping topic {self._topic!r}")
            self._partitions = partitions
            # A new partition's leader may not answer offset requests yet (NOT_LEADER...):
            # transient errors are retried until the request timeout.
            watermarks = Retrying(
                stop=stop_after_delay(request_timeout_s),
                wait=wait_fixed(0.1),
                retry=retry_if_exception(_transient_kafka_error),
                reraise=True,
            )
            targets: dict[int, tuple[int, int]] = {}
            for partition in self._partitions:
                low, high = watermarks(
                    consumer.get_watermark_offsets,
                    TopicPartition(self._topic, partition),
                    timeout=request_timeout_s,
                )
                targets[partition] = (low, high)
            # 3. Assign from the beginning.
            consumer.assign(
                [TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in self._partitions]
            )
        except KafkaException as exc:
            consumer.close()
            raise TransientError(
                f"cannot read mapping topic {self._topic!r}: {describe(exc.args[0])}"
            ) from None
        except BaseException:
            consumer.close()
            raise
        self._consumer = consumer
        expected = sum(max(0, high - low) for low, high in targets.values())
        self._log.info(
            "mapping restore started",
            extra={"partitions": len(self._partitions), "records_at_most": expected},
        )
        # 4. Restore, then tail, in the background.
        self._tail_thread = threading.Thread(
            target=self._run,
            args=(targets, expected, follow, started),
            name=f"mapping-tail-{self._integration_uuid}",
            daemon=True,
        )
        self._tail_thread.start()
        # 5. Wait.
        if timeout_s is not None:
            self.wait_ready(timeout_s)

    def _led_partitions(self, consumer: Any, timeout_s: float) -> list[int] | None:
        """The topic's partitions if each has a leader, else None."""
        topic = consumer.list_topics(self._topic, timeout=timeout_s).topics.get(self._topic)
        if topic is None or topic.error is not None or not topic.partitions:
            return None
        if any(p.leader < 0 for p in topic.partitions.values()):
            return None
        return sorted(topic.partitions)

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Block until restored; raise the restore's error, or `TransientError` on timeout
        (the restore goes on: call again)."""
        if not self._restored.wait(timeout_s):
            raise TransientError(
                f"mapping restore of {self._topic!r} not finished after {timeout_s} s"
            )
        if not self._ready:
            self._not_ready()

    def sync(self, timeout_s: float = 10.0) -> bool:
        """Wait until the tail has applied everything on the topic now (a read barrier).

        Call it when partitions were just assigned to this instance: writes their previous
        owner made moments before are then visible. False if not reached within `timeout_s`.
        """
        if not self._ready:
            return False
        deadline = time.monotonic() + timeout_s
        # The end offsets come from the admin client: the consumer's own watermark query
        # blocks while the tail thread is inside `consume`.
        admin = self._admin_client()
        futures = admin.list_offsets(
            {TopicPartition(self._topic, p): _LATEST for p in self._partitions},
            request_timeout=timeout_s,
        )
        try:
            targets = {
                tp.partition: future.result(timeout=timeout_s).offset
                for tp, future in futures.items()
            }
        except (KafkaException, FutureTimeout):
            return False
        finally:
            admin.poll(0)
        with self._progress:
            while not self._reached(targets):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._ready:
                    return False
                self._progress.wait(remaining)
        return True

    def _admin_client(self) -> AdminClient:
        with self._admin_lock:
            if self._admin is None:
                self._admin = new_admin(self._client_config, logger=self._log)
            return self._admin

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop tailing, flush outstanding writes, release the clients. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._ready = False
        self._stop.set()
        self._restored.set()  # wakes `wait_ready` callers
        if self._tail_thread is not None:
            self._tail_thread.join(timeout_s)
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        self._producer.close(timeout_s)
        self._admin = None
        with self._progress:
            self._progress.notify_all()

    def __enter__(self) -> KafkaMappingStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- EntityMappingService ------------------------------------------------------------

    def find(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> MappingData | None:
        """The mapping of one entity, or None. Lock-free; decoded values are cached.

        Raises `CodecError` (a `PermanentError`) if the stored value is unreadable.
        """
        if integration_uuid != self._integration_uuid:
            self._wrong_integration(integration_uuid)
        if not self._ready:
            self._not_ready()
        value = self._get(f"{entity_type}:{entity_uuid}".encode())
        if value is None:
            return None
        try:
            return self._decode(value)
        except CodecError as exc:
            self._count_undecodable()
            self._log.error(
                "undecodable mapping value",
                extra={
                    "entity_type": entity_type,
                    "entity_uuid": entity_uuid,
                    "reason": exc.reason,
                },
            )
            raise

    def find_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> dict[str, MappingData]:
        """Mappings of several entities of one type, keyed by UUID; missing ones are absent."""
        found: dict[str, MappingData] = {}
        for entity_uuid in entity_uuids:
            mapping = self.find(entity_type, entity_uuid, integration_uuid)
            if mapping is not None:
                found[entity_uuid] = mapping
        return found

    def create(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_id: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        """Record (or overwrite) a mapping; returns once the broker acknowledged it.

        Keeps `created_at` when the external id is unchanged. Raises `TransientError` if the
        write failed or timed out (the local view is then unchanged).
        """
        key = self._writable_key(entity_type, entity_uuid, integration_uuid)
        if not isinstance(external_id, str) or not external_id:
            raise ValueError("external_id must be a non-empty string")
        now = self._now_ms()
        created_at = now
        previous = self._decoded_or_none(key)
        if previous is not None and previous.external_id == external_id:
            created_at = previous.created_at_ms
        data = None if external_data is None else thaw(external_data)
        value = encode_record(MappingRecord(external_id, data, created_at, now))
        self._write(key, value)

    def delete(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> bool:
        """Remove a mapping (tombstone); True if there was one. Durable on return."""
        key = self._writable_key(entity_type, entity_uuid, integration_uuid)
        if self._get(key) is None:
            return False
        self._write(key, None)
        return True

    def create_many(self, mappings: Iterable[NewMapping], integration_uuid: str) -> None:
        """Record several mappings; durable on return (written one after another for now)."""
        for mapping in list(mappings):
            self.create(
                mapping.entity_type,
                mapping.entity_uuid,
                integration_uuid,
                mapping.external_id,
                mapping.external_data,
            )

    def delete_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> int:
        """Remove several mappings; returns how many existed. Durable on return."""
        return sum(self.delete(entity_type, uuid, integration_uuid) for uuid in list(entity_uuids))

    def update_external_data(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        """Replace the external data of an existing mapping (KeyError if there is none)."""
        key = self._writable_key(entity_type, entity_uuid, integration_uuid)
        value = self._get(key)
        if value is None:
            raise KeyError(f"no mapping for {entity_type}:{entity_uuid}")
        previous = decode_record(value)
        data = None if external_data is None else thaw(external_data)
        record = MappingRecord(previous.external_id, data, previous.created_at_ms, self._now_ms())
        self._write(key, encode_record(record))

    # -- export and metrics --------------------------------------------------------------

    def record(self, entity_type: str, entity_uuid: str) -> MappingRecord | None:
        """The full record of one mapping (with timestamps), for tools; raises `CodecError`."""
        if not self._ready:
            self._not_ready()
        value = self._get(f"{entity_type}:{entity_uuid}".encode())
        return None if value is None else decode_record(value)

    def count(self) -> int:
        """Number of mappings held."""
        return len(self._view)

    def iter_mappings(self) -> Iterator[tuple[str, str, MappingRecord]]:
        """(entity_type, entity_uuid, record) of every mapping, from a snapshot taken now.

        Undecodable values are logged, counted and skipped.
        """
        for key, value in self._view.snapshot().items():
            try:
                entity_type, entity_uuid = split_key(key)
                record = decode_record(value)
            except (CodecError, ValueError) as exc:
                self._count_undecodable()
                self._log.error(
                    "undecodable mapping skipped in export",
                    extra={"key": key.decode("utf-8", "replace"), "error": str(exc)},
                )
                continue
            yield entity_type, entity_uuid, record

    @property
    def rejected_records(self) -> int:
        """Records on the topic that are not mapping records (skipped when applied)."""
        return self._view.rejected_total

    def applied_offsets(self) -> dict[int, int]:
        """Next offset to apply, per partition."""
        return self._view.positions()

    def stats(self) -> MappingStoreStats:
        return MappingStoreStats(
            integration_uuid=self._integration_uuid,
            topic=self._topic,
            ready=self._ready,
            mappings=len(self._view),
            restore_seconds=self.restore_seconds,
            restored_records=self.restored_records,
            rejected_records=self._view.rejected_total,
            undecodable_values=self.undecodable_values,
            applied_offsets=self._view.positions(),
            tail_lag_records=self.tail_lag_records,
            pending_own_writes=self._view.pending_count(),
            writes=self.writes,
            write_failures=self.write_failures,
        )

    # -- internals: checks -----------------------------------------------------------------

    def _wrong_integration(self, integration_uuid: str) -> NoReturn:
        raise ValueError(
            f"this mapping store belongs to integration {self._integration_uuid}, "
            f"not {integration_uuid}"
        )

    def _not_ready(self) -> NoReturn:
        if self._failure is not None:
            # A fresh instance of the failure's class: the runtime's policy (retry, stop the
            # integration) follows from it; the same instance would pile up tracebacks.
            raise type(self._failure)(str(self._failure))
        if self._closed:
            raise RuntimeError("the mapping store is closed")
        raise TransientError(f"mappings of {self._topic!r} are not restored yet")

    def _count_undecodable(self) -> None:
        with self._counter_lock:
            self.undecodable_values += 1

    def _count_write(self, ok: bool) -> None:
        with self._counter_lock:
            if ok:
                self.writes += 1
            else:
                self.write_failures += 1

    def _writable_key(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> bytes:
        if integration_uuid != self._integration_uuid:
            self._wrong_integration(integration_uuid)
        if not self._ready:
            self._not_ready()
        return mapping_key(entity_type, entity_uuid)

    def _decoded_or_none(self, key: bytes) -> MappingRecord | None:
        value = self._get(key)
        if value is None:
            return None
        try:
            return decode_record(value)
        except CodecError:
            return None  # overwritten by the caller's valid record

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- internals: writes ---------------------------------------------------------------

    def _write(self, key: bytes, value: bytes | None) -> None:
        """Produce one record, wait for the broker's acknowledgement, then apply it locally.

        1. Produce through the acked producer (its delivery thread serves the report).
        2. When acknowledged, apply the record at its offset (`MappingView.apply_acked`),
           before the caller wakes.
        3. On failure raise, leaving the local view unchanged.
        """
        if self._closed:
            raise RuntimeError("the mapping store is closed")
        record = ProducerRecord(self._topic, key, value)

        def settle(deliveries: Sequence[Delivery]) -> None:
            # 2. Apply.
            for delivery in deliveries:
                if delivery.ok:
                    self._view.apply_acked(key, value, delivery.partition, delivery.offset)

        try:
            (delivery,) = self._producer.send_many([record], settle=settle)
        except TimeoutError as exc:
            self._count_write(False)
            raise TransientError(f"mapping write to {self._topic!r} failed: {exc}") from None
        # 3. Failure.
        if delivery.error is not None:
            self._count_write(False)
            raise as_integration_error(
                delivery.error, f"mapping write to {self._topic!r} failed"
            ) from None
        self._count_write(True)

    # -- internals: restore and tail -----------------------------------------------------

    def _reached(self, targets: Mapping[int, int]) -> bool:
        positions = self._view.positions()
        return all(
            positions.get(p, 0) >= target or self._eof.get(p, -1) >= target
            for p, target in targets.items()
        )

    def _run(
        self, targets: dict[int, tuple[int, int]], expected: int, follow: bool, started: float
    ) -> None:
        try:
            self._restore(targets, expected, started)
            if follow and not self._stop.is_set():
                self._tail()
        # A stopped tail never resumes, so retrying can't help: every failure is fatal-family.
        except ConfigurationError as exc:
            self._fail(exc)
        except KafkaException as exc:
            self._fail(FatalError(f"mapping tail stopped: {describe(exc.args[0])}"))
        except Exception as exc:
            self._log.exception("mapping tail crashed")
            self._fail(FatalError(f"mapping tail crashed: {type(exc).__name__}: {exc}"))

    def _fail(self, failure: IntegrationError) -> None:
        self._failure = failure
        self._ready = False
        self._log.error("mapping store stopped", extra={"error": str(failure)})
        self._restored.set()
        with self._progress:
            self._progress.notify_all()

    def _consume_batch(self, *, tailing: bool) -> int:
        """Consume and apply one batch; returns the number of records applied or skipped.

        A batch `consume` waits for its timeout unless the batch fills up: right for the
        restore, but up to 100 ms of delay per tailed write. Tailing waits for the first
        record with `poll` and takes whatever else is queued without waiting.
        """
        consumer = self._consumer
        if tailing:
            first = consumer.poll(0.1)
            if first is None:
                return 0
            messages = [first, *consumer.consume(num_messages=self._fetch_batch - 1, timeout=0)]
        else:
            messages = consumer.consume(num_messages=self._fetch_batch, timeout=0.1)
        if not messages:
            return 0
        result = self._view.apply_log(messages)
        for event in result.events:
            error: Any = event.error()
            if error.code() == KafkaError._PARTITION_EOF:
                self._eof[event.partition()] = event.offset()  # type: ignore[index,assignment]
            elif family_of(error) in (ErrorFamily.FATAL, ErrorFamily.CONFIGURATION):
                raise ConfigurationError(
                    f"cannot read mapping topic {self._topic!r}: {describe(error)}"
                )
            else:
                # librdkafka recovers from these by itself (reconnects, leader changes).
                self._warn_rarely(error)
        for partition, offset, reason in result.rejected[:10]:
            self._log.error(
                "skipped a record that is not a mapping",
                extra={"partition": partition, "offset": offset, "reason": reason},
            )
        with self._progress:
            self._progress.notify_all()
        return len(messages) - len(result.events)

    def _restore(self, targets: dict[int, tuple[int, int]], expected: int, started: float) -> None:
        goal = {p: high for p, (low, high) in targets.items() if high > low}
        next_log = started + _PROGRESS_EVERY_S
        while not self._reached(goal):
            if self._stop.is_set():
                return
            self.restored_records += self._consume_batch(tailing=False)
            now = time.monotonic()
            if now >= next_log:
                next_log = now + _PROGRESS_EVERY_S
                self._log.info(
                    "mapping restore progress",
                    extra={
                        "records": self.restored_records,
                        "records_at_most": expected,
                        "mappings": len(self._view),
                        "records_per_s": round(self.restored_records / (now - started)),
                    },
                )
        self.restore_seconds = time.monotonic() - started
        _release_free_heap()
        self._ready = True
        self._restored.set()
        self._log.info(
            "mapping restore finished",
            extra={
                "mappings": len(self._view),
                "records": self.restored_records,
                "rejected": self._view.rejected_total,
                "seconds": round(self.restore_seconds, 3),
            },
        )

    def _warn_rarely(self, error: KafkaError) -> None:
        now = time.monotonic()
        if now - self._warned_at.get(error.code(), -_WARN_EVERY_S) >= _WARN_EVERY_S:
            self._warned_at[error.code()] = now
            self._log.warning("mapping tail: %s", describe(error))

    def _tail(self) -> None:
        partitions = [TopicPartition(self._topic, p) for p in self._partitions]
        while not self._stop.is_set():
            self._consume_batch(tailing=True)
            # High watermarks as of the last fetch response: no request to the broker.
            positions = self._view.positions()
            lag = 0
            for tp in partitions:
                _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
                position = max(positions.get(tp.partition, 0), self._eof.get(tp.partition, 0))
                if high >= 0:
                    lag += max(0, high - position)
            self.tail_lag_records = lag


def _transient_kafka_error(exc: BaseException) -> bool:
    error = error_of(exc)
    return error is not None and family_of(error) is ErrorFamily.TRANSIENT


def _release_free_heap() -> None:
    """Hand the restore's freed fetch buffers back to the OS.

    glibc keeps freed heap pages; after a 1M-mapping restore they are ~300 B per mapping,
    more than the mappings themselves. `malloc_trim` (glibc only; a no-op elsewhere) frees
    them in a few milliseconds.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
