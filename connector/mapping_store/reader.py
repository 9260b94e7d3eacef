"""`MappingTailReader`: restores a mapping topic into a `MappingView`, then keeps tailing it.

One thread (the *tail*) owns the consumer: it reads every partition from the beginning (no
consumer group, no committed offsets) until the end offsets taken at start (the restore),
marks the reader ready, then keeps applying what other instances write. `sync` is a read
barrier: it waits until the tail applied everything on the topic at the time of the call.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import time
from collections.abc import Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, NoReturn

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]
from tenacity import (
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

from connector.kafka import (
    ClientConfig,
    ErrorFamily,
    describe,
    error_of,
    family_of,
    new_admin,
    new_consumer,
)
from connector.kafka.clients import Logger
from connector.mapping_store.topic import ensure_mapping_topic
from connector.mapping_store.view import MappingView
from contracts import ConfigurationError, FatalError, IntegrationError, TransientError

__all__ = ["MappingTailReader"]

_PROGRESS_EVERY_S = 2.0
_WARN_EVERY_S = 30.0
_LATEST = OffsetSpec.latest()  # type: ignore[no-untyped-call]


class MappingTailReader:
    """Reads one mapping topic into `view`: restore, then tail. Lifecycle: `start` → `close`."""

    def __init__(
        self,
        *,
        topic: str,
        view: MappingView,
        client_config: ClientConfig,
        logger: Logger,
        name: str,
        replication_factor: int | None = None,
        fetch_batch: int = 10_000,
    ) -> None:
        """`name` names the tail thread; `replication_factor` is for a topic created here."""
        self._topic = topic
        self._view = view
        self._client_config = dict(client_config)
        self._log = logger
        self._name = name
        self._replication_factor = replication_factor
        self._fetch_batch = fetch_batch

        self._topic_checked = False
        self._consumer: Consumer | None = None
        self._admin: AdminClient | None = None
        self._admin_lock = threading.Lock()
        self._partitions: list[int] = []
        self._eof: dict[int, int] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._restored = threading.Event()
        self._progress = threading.Condition()
        self._failure: IntegrationError | None = None
        self.ready = False
        """True once the restore finished, while the tail is healthy and the reader open (a
        plain attribute: every lookup reads it)."""
        self._closed = False
        self._warned_at: dict[int, float] = {}

        self.restore_seconds: float | None = None
        """Duration of the restore (None until it finished)."""
        self.restored_records = 0
        """Records read during the restore (live mappings plus superseded ones and tombstones)."""
        self.tail_lag_records = 0
        """Records on the topic the tail has not read yet (from the last fetch's high watermark)."""

    @property
    def failure(self) -> IntegrationError | None:
        """Why the tail stopped, if it did (the reader is then no longer `ready`)."""
        return self._failure

    @property
    def closed(self) -> bool:
        return self._closed

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
           the reader ready, then keeps applying new records (unless `follow` is False).
        5. Wait up to `timeout_s` for readiness (None: return at once; see `wait_ready`).
        """
        if self._closed:
            raise RuntimeError("the mapping store is closed")
        if self._thread is not None:
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
        self._thread = threading.Thread(
            target=self._run,
            args=(consumer, targets, expected, follow, started),
            name=self._name,
            daemon=True,
        )
        self._thread.start()
        # 5. Wait.
        if timeout_s is not None:
            self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Block until restored; raise the restore's error, or `TransientError` on timeout
        (the restore goes on: call again)."""
        if not self._restored.wait(timeout_s):
            raise TransientError(
                f"mapping restore of {self._topic!r} not finished after {timeout_s} s"
            )
        if not self.ready:
            self.not_ready()

    def not_ready(self) -> NoReturn:
        """Raise why mappings can't be used now (failed tail, closed, or still restoring)."""
        if self._failure is not None:
            # A fresh instance of the failure's class: the runtime's policy (retry, stop the
            # integration) follows from it; the same instance would pile up tracebacks.
            raise type(self._failure)(str(self._failure))
        if self._closed:
            raise RuntimeError("the mapping store is closed")
        raise TransientError(f"mappings of {self._topic!r} are not restored yet")

    def sync(self, timeout_s: float = 10.0) -> bool:
        """Wait until the tail has applied everything on the topic now (a read barrier).

        Call it when partitions were just assigned to this instance: writes their previous
        owner made moments before are then visible. False if not reached within `timeout_s`.
        """
        if not self.ready:
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
                if remaining <= 0 or not self.ready:
                    return False
                self._progress.wait(remaining)
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop tailing and release the clients. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.ready = False
        self._stop.set()
        self._restored.set()  # wakes `wait_ready` callers
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        self._admin = None
        with self._progress:
            self._progress.notify_all()

    # -- internals -----------------------------------------------------------------------

    def _admin_client(self) -> AdminClient:
        with self._admin_lock:
            if self._admin is None:
                self._admin = new_admin(self._client_config, logger=self._log)
            return self._admin

    def _led_partitions(self, consumer: Consumer, timeout_s: float) -> list[int] | None:
        """The topic's partitions if each has a leader, else None."""
        metadata: Any = consumer.list_topics(self._topic, timeout=timeout_s)
        topic = metadata.topics.get(self._topic)
        if topic is None or topic.error is not None or not topic.partitions:
            return None
        if any(p.leader < 0 for p in topic.partitions.values()):
            return None
        return sorted(topic.partitions)

    def _reached(self, targets: Mapping[int, int]) -> bool:
        positions = self._view.positions()
        return all(
            positions.get(p, 0) >= target or self._eof.get(p, -1) >= target
            for p, target in targets.items()
        )

    def _run(
        self,
        consumer: Consumer,
        targets: dict[int, tuple[int, int]],
        expected: int,
        follow: bool,
        started: float,
    ) -> None:
        try:
            self._restore(consumer, targets, expected, started)
            if follow and not self._stop.is_set():
                self._tail(consumer)
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
        self.ready = False
        self._log.error("mapping store stopped", extra={"error": str(failure)})
        self._restored.set()
        with self._progress:
            self._progress.notify_all()

    def _consume_batch(self, consumer: Consumer, *, tailing: bool) -> int:
        """Consume and apply one batch; returns the number of records applied or skipped.

        A batch `consume` waits for its timeout unless the batch fills up: right for the
        restore, but up to 100 ms of delay per tailed write. Tailing waits for the first
        record with `poll` and takes whatever else is queued without waiting.
        """
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

    def _restore(
        self,
        consumer: Consumer,
        targets: dict[int, tuple[int, int]],
        expected: int,
        started: float,
    ) -> None:
        goal = {p: high for p, (low, high) in targets.items() if high > low}
        next_log = started + _PROGRESS_EVERY_S
        while not self._reached(goal):
            if self._stop.is_set():
                return
            self.restored_records += self._consume_batch(consumer, tailing=False)
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
        self.ready = True
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

    def _tail(self, consumer: Consumer) -> None:
        partitions = [TopicPartition(self._topic, p) for p in self._partitions]
        while not self._stop.is_set():
            self._consume_batch(consumer, tailing=True)
            # High watermarks as of the last fetch response: no request to the broker.
            positions = self._view.positions()
            lag = 0
            for tp in partitions:
                _low, high = consumer.get_watermark_offsets(tp, cached=True)
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
