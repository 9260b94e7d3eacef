"""`AckedProducer`: write records and wait until the broker acknowledged them.

The one implementation of "produce and wait for the acknowledgement" (acks=all, idempotent):
mapping writes, dead letters, replays and the synchronous publisher use it. A *call* writes
a sequence of records and completes once every one of them has a delivery report:

1. Produce every record of the call without waiting in between, each with a delivery
   callback that counts the call down. Concurrent calls (threads, or tasks of an event
   loop) share librdkafka's batching: records produced within ``linger.ms`` of each other
   travel in the same request.
2. A full local queue (``queue.buffering.max.*``) waits for room, the delivery thread
   draining it, up to `queue_full_wait_s`; records still refused then fail with
   ``_QUEUE_FULL``. A record the client refuses at once (too large, ...) fails at once.
3. The delivery thread (one per producer; it polls librdkafka) receives the reports. When
   the last record of a call has its report it runs the call's `settle` hook (e.g. apply
   the writes to a local view), then wakes the caller: an event for `send_many`,
   ``loop.call_soon_threadsafe`` for `asend_many` (never blocking the event loop).
4. The caller gets one `Delivery` per record, in order: where it was written, or why not.

A fatal client error (e.g. a fenced idempotent producer) retires the producer: the next
call builds a fresh one, and the delivery thread serves the old one until its reports are in.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from connector.kafka.clients import ClientConfig, ClientErrorLog, Logger, new_producer
from connector.kafka.errors import SettingName, connector_setting, error_of

__all__ = ["AckedProducer", "Delivery", "ProducerRecord", "Settle"]

Header = tuple[str, str | bytes | None]

_POLL_S = 0.1
_QUEUE_FULL_PAUSE_S = 0.005
_WAIT_MARGIN_S = 5.0


@dataclass(frozen=True, slots=True)
class ProducerRecord:
    """One record to write. `timestamp_ms` 0 means "now" (the producer's clock)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[Header] | None = None
    timestamp_ms: int = 0


@dataclass(frozen=True, slots=True)
class Delivery:
    """The fate of one record: acknowledged at (`partition`, `offset`), or failed with `error`."""

    record: ProducerRecord
    partition: int = -1
    offset: int = -1
    error: KafkaError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


Settle = Callable[[Sequence[Delivery]], None]
"""Runs in the delivery thread once every record of a call has its report, before the
caller is woken (so what it does is visible when the call returns)."""
_Notify = Callable[[list[Delivery], BaseException | None], None]


class _Call:
    """The records of one call and their reports, counted down by the delivery callbacks."""

    __slots__ = ("_lock", "_notify", "_remaining", "_settle", "deliveries", "records")

    def __init__(self, records: Sequence[ProducerRecord], settle: Settle | None, notify: _Notify):
        self.records = records
        self.deliveries: list[Delivery | None] = [None] * len(records)
        self._remaining = len(records)
        self._lock = threading.Lock()
        self._settle = settle
        self._notify = notify

    def report(self, index: int, error: KafkaError | None, message: Message | None) -> None:
        record = self.records[index]
        if error is None and message is not None:
            delivery = Delivery(record, message.partition() or 0, message.offset() or 0)
        else:
            delivery = Delivery(record, error=error or KafkaError(KafkaError._FAIL, "no report"))
        with self._lock:
            self.deliveries[index] = delivery
            self._remaining -= 1
            last = self._remaining == 0
        if last:
            self.finish()

    def finish(self) -> None:
        outcome = [d for d in self.deliveries if d is not None]
        failure: BaseException | None = None
        if self._settle is not None:
            try:
                self._settle(outcome)
            except Exception as exc:  # a bug in the hook: the caller raises it
                logging.getLogger(__name__).exception("settling a producer call failed")
                failure = exc
        self._notify(outcome, failure)


def _resolve(
    future: asyncio.Future[list[Delivery]], outcome: list[Delivery], failure: BaseException | None
) -> None:
    if future.done():  # the caller was cancelled or timed out
        return
    if failure is not None:
        future.set_exception(failure)
    else:
        future.set_result(outcome)


def _nothing(settle: Settle | None) -> list[Delivery]:
    if settle is not None:
        settle([])
    return []


class AckedProducer:
    """Writes records and waits for the broker's acknowledgements; thread-safe, loop-safe.

    Forced settings: ``acks=all``, ``enable.idempotence=true`` and, unless
    `delivery_timeout_s` is None, ``delivery.timeout.ms`` (a record not acknowledged in that
    time fails with ``_MSG_TIMED_OUT``). `defaults` are site defaults the client
    configuration may override, `settings` site settings it may not. The librdkafka producer
    and its delivery thread start with the first call.
    """

    def __init__(
        self,
        client_config: ClientConfig,
        *,
        name: str,
        logger: Logger,
        defaults: ClientConfig | None = None,
        settings: ClientConfig | None = None,
        delivery_timeout_s: float | None = 30.0,
        queue_full_wait_s: float | None = 5.0,
        setting_name: SettingName = connector_setting,
    ) -> None:
        """`name` names the delivery thread and messages; `queue_full_wait_s` None waits
        for room in the local queue as long as it takes; `setting_name` names the settings a
        refused connection should check (`ClientErrorLog`)."""
        forced: dict[str, Any] = {**(settings or {}), "acks": "all", "enable.idempotence": True}
        if delivery_timeout_s is not None:
            forced["delivery.timeout.ms"] = int(delivery_timeout_s * 1000)
        self.name = name
        self._client_config = dict(client_config)
        self._defaults = dict(defaults or {})
        self._settings = forced
        self._log = logger
        self._errors = ClientErrorLog(logger, name=setting_name)
        self._wait_s = None if delivery_timeout_s is None else delivery_timeout_s + _WAIT_MARGIN_S
        self._queue_full_wait_s = queue_full_wait_s
        self._lock = threading.Lock()
        self._producer: Producer | None = None
        self._needs_reset = False
        self._retiring: list[tuple[Producer, float]] = []
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self.resets = 0
        """Producers replaced after a fatal error."""

    # -- the calls -----------------------------------------------------------------------

    def send_many(
        self,
        records: Sequence[ProducerRecord],
        *,
        settle: Settle | None = None,
        timeout_s: float | None = None,
    ) -> list[Delivery]:
        """Write `records` together and block until every one has a report (steps 1 to 4).

        Raises `TimeoutError` if the reports don't come within `timeout_s` (default: the
        delivery timeout plus a margin; librdkafka reports every record by then), and
        whatever `settle` raised.
        """
        done = threading.Event()
        result: list[tuple[list[Delivery], BaseException | None]] = []

        def notify(outcome: list[Delivery], failure: BaseException | None) -> None:
            result.append((outcome, failure))
            done.set()

        if not records:
            return _nothing(settle)
        call = _Call(records, settle, notify)
        self._submit_blocking(call)
        wait_s = timeout_s if timeout_s is not None else self._wait_s
        if not done.wait(wait_s):
            raise TimeoutError(self._not_acknowledged(records, wait_s))
        outcome, failure = result[0]
        if failure is not None:
            raise failure
        return outcome

    def send(self, record: ProducerRecord, *, timeout_s: float | None = None) -> Delivery:
        """`send_many` of one record."""
        return self.send_many([record], timeout_s=timeout_s)[0]

    async def asend_many(
        self, records: Sequence[ProducerRecord], *, settle: Settle | None = None
    ) -> list[Delivery]:
        """The awaitable `send_many`: the event loop never blocks on Kafka.

        Producing is a non-blocking enqueue; the first call builds the client in a worker
        thread. Cancelling the wait does not withdraw the records (their `settle` still runs).
        """
        if not records:
            return _nothing(settle)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Delivery]] = loop.create_future()

        def notify(outcome: list[Delivery], failure: BaseException | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, future, outcome, failure)

        call = _Call(records, settle, notify)
        if self._producer is None or self._needs_reset:
            await asyncio.to_thread(self._current)
        produced = self._produce(call, 0)
        if produced < len(records):
            waited_since = time.monotonic()
            while produced < len(records):
                if self._waited_enough(waited_since):
                    self._fail_queue_full(call, produced)
                    break
                await asyncio.sleep(_QUEUE_FULL_PAUSE_S)
                produced = self._produce(call, produced)
        try:
            async with asyncio.timeout(self._wait_s):
                return await future
        except TimeoutError:
            raise TimeoutError(self._not_acknowledged(records, self._wait_s)) from None

    async def asend(self, record: ProducerRecord) -> Delivery:
        """`asend_many` of one record."""
        return (await self.asend_many([record]))[0]

    def submit(
        self, records: Sequence[ProducerRecord], on_done: Callable[[list[Delivery]], None]
    ) -> None:
        """Write `records` and return at once; `on_done` gets their deliveries (in the
        delivery thread, or before this returns if the client refused every record)."""
        self._submit_blocking(_Call(records, None, lambda outcome, _failure: on_done(outcome)))

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def last_error(self) -> KafkaError | None:
        """The client's latest cluster-level error (brokers down, authentication), if any."""
        return self._errors.last

    @property
    def refusal(self) -> str | None:
        """Why the cluster refuses the connection (TLS, credentials) and what to check, if it
        did and no record was acknowledged since."""
        return self._errors.refusal

    def flush(self, timeout_s: float | None = None) -> int:
        """Wait for every report (up to `timeout_s`); returns how many are still missing."""
        producer = self._producer
        if producer is None:
            return 0
        return producer.flush(-1 if timeout_s is None else timeout_s)

    def close(self, timeout_s: float | None = 10.0) -> int:
        """Wait up to `timeout_s` (None: as long as it takes) for outstanding reports, then
        give up on the rest (their calls complete with ``_PURGE_*`` errors) and stop.
        Returns the number given up."""
        with self._lock:
            if self._closed.is_set():
                return 0
            self._closed.set()
            producers = [p for p in (self._producer, *(p for p, _ in self._retiring)) if p]
            self._producer = None
            self._retiring = []
        if self._thread is not None:
            self._thread.join()
        given_up = 0
        for producer in producers:
            left = producer.flush(-1 if timeout_s is None else timeout_s)
            if left:
                given_up += left
                producer.purge()
                producer.flush(0)  # serves the purged records' reports
        if given_up:
            self._log.warning("%s: %d record(s) not acknowledged at close", self.name, given_up)
        return given_up

    # -- internals -----------------------------------------------------------------------

    def _submit_blocking(self, call: _Call) -> None:
        """Steps 1 and 2 in the caller's thread (sleeping while the local queue is full)."""
        if not call.records:
            call.finish()
            return
        produced = self._produce(call, 0)
        waited_since = time.monotonic()
        while produced < len(call.records):
            if self._waited_enough(waited_since):
                self._fail_queue_full(call, produced)
                return
            time.sleep(_QUEUE_FULL_PAUSE_S)
            produced = self._produce(call, produced)

    def _produce(self, call: _Call, start: int) -> int:
        """Produce `call.records[start:]`; returns where a full queue stopped it (or the end)."""
        records = call.records
        producer = self._current()
        on_delivery = self._on_delivery
        for index in range(start, len(records)):
            record = records[index]
            try:
                producer.produce(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    headers=list(record.headers) if record.headers else None,
                    timestamp=record.timestamp_ms,
                    on_delivery=functools.partial(on_delivery, call, index),
                )
            except BufferError:
                return index
            except Exception as exc:  # refused at once: too large, unknown partition, bad type
                error = error_of(exc) or KafkaError(
                    KafkaError._INVALID_ARG, f"{type(exc).__name__}: {exc}"
                )
                on_delivery(call, index, error, None)
        return len(records)

    def _on_delivery(
        self, call: _Call, index: int, error: KafkaError | None, message: Message | None
    ) -> None:
        if error is None:
            self._errors.accepted()
        elif error.fatal() or error.code() == KafkaError._FATAL:
            self._needs_reset = True
        call.report(index, error, message)

    def _waited_enough(self, since: float) -> bool:
        limit = self._queue_full_wait_s
        return limit is not None and time.monotonic() - since >= limit

    def _fail_queue_full(self, call: _Call, start: int) -> None:
        error = KafkaError(
            KafkaError._QUEUE_FULL,
            f"the local producer queue stayed full for {self._queue_full_wait_s:g} s "
            "(the cluster does not take records as fast as they come)",
        )
        for index in range(start, len(call.records)):
            self._on_delivery(call, index, error, None)

    def warm_up(self, topics: Sequence[str], timeout_s: float = 10.0) -> None:
        """Start the producer now and fetch the topics' metadata, so the first write does
        not pay for it: an idempotent producer's first write otherwise waits for its
        producer id and the topic's leaders (hundreds of ms). Failures are left to the
        first write to report."""
        producer = self._current()
        for topic in topics:
            try:
                producer.list_topics(topic, timeout=timeout_s)
            except KafkaException as exc:
                self._log.debug("%s: warm-up metadata of %s: %s", self.name, topic, exc)

    def _on_client_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._needs_reset = True
        self._errors(error)

    def _current(self) -> Producer:
        producer = self._producer
        if producer is not None and not self._needs_reset:
            return producer
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError(f"{self.name}: the producer is closed")
            if self._needs_reset and self._producer is not None:
                self._retiring.append((self._producer, time.monotonic()))
                self._producer = None
                self.resets += 1
                self._log.warning("%s: fatal producer error, starting a new producer", self.name)
            self._needs_reset = False
            if self._producer is None:
                self._producer = new_producer(
                    self._client_config,
                    logger=self._log,
                    on_error=self._on_client_error,
                    defaults=self._defaults,
                    settings=self._settings,
                )
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name=f"{self.name}-deliveries", daemon=True
                )
                self._thread.start()
            return self._producer

    def _serve(self) -> None:
        """The delivery thread: serve reports (and log lines) until closed (step 3)."""
        while not self._closed.is_set():
            if self._retiring:
                self._serve_retiring()
            producer = self._producer
            if producer is None:
                time.sleep(_POLL_S / 10)
            else:
                producer.poll(_POLL_S)

    def _serve_retiring(self) -> None:
        """Serve producers retired after a fatal error until their reports are all in."""
        give_up_after = (self._wait_s or 300.0) + _WAIT_MARGIN_S
        finished: set[int] = set()
        for producer, since in list(self._retiring):
            producer.poll(0)
            if len(producer) and time.monotonic() - since > give_up_after:
                producer.purge()
                producer.poll(0)
            if not len(producer):
                finished.add(id(producer))
        if finished:
            with self._lock:
                self._retiring = [r for r in self._retiring if id(r[0]) not in finished]

    @staticmethod
    def _not_acknowledged(records: Sequence[ProducerRecord], wait_s: float | None) -> str:
        topics = ", ".join(sorted({r.topic for r in records}))
        return f"{len(records)} record(s) to {topics} not acknowledged within {wait_s:g} s"
