"""Write dead letters and wait for the broker's acknowledgement.

A thin adapter over confluent-kafka's `Producer` (acks=all, idempotent). `send` returns only
once the record is durably written, so the runtime may then commit the record's offset; a
failed write raises `TransientError` (the runtime retries it and commits nothing meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from connector.dead_letters.headers import Header, Headers, header_value
from connector.metrics import METRICS, ConnectorMetrics
from connector.runtime.records import ConsumedRecord
from contracts.errors import TransientError

__all__ = ["DeadLetterProducer"]

_log = logging.getLogger(__name__)

_POLL_INTERVAL_S = 0.1
# A dead letter is its record plus context headers, so it is larger than what the origin
# topic accepted: leave the size limit to the dead-letter topic (`max.message.bytes`)
# rather than refuse locally, which no topic setting could fix without a restart.
_MESSAGE_MAX_BYTES = 64 * 1024 * 1024


class DeadLetterProducer:
    """Produces dead letters to `topic`; one instance per integration, safe for one event loop.

    A background thread serves delivery callbacks (`poll`), so `send` needs no polling by
    the caller. A fatal producer error (e.g. a fenced idempotent producer) makes the next
    `send` start a fresh producer.
    """

    def __init__(
        self,
        client_config: Mapping[str, str],
        topic: str,
        *,
        integration_uuid: str = "",
        delivery_timeout_ms: int = 30_000,
        metrics: ConnectorMetrics = METRICS,
    ) -> None:
        self.topic = topic
        self._config: dict[str, Any] = {
            "message.max.bytes": _MESSAGE_MAX_BYTES,
            **client_config,
            "acks": "all",
            "enable.idempotence": True,
            "delivery.timeout.ms": delivery_timeout_ms,
        }
        self._integration = integration_uuid
        self._metrics = metrics
        self._lock = threading.Lock()
        self._producer: Any = Producer(self._config)
        self._needs_reset = False
        self._closed = threading.Event()
        self._poller = threading.Thread(
            target=self._poll_loop, name=f"dead-letters-{topic}", daemon=True
        )
        self._poller.start()

    def _poll_loop(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(_POLL_INTERVAL_S)  # reading the attribute needs no lock

    def _current(self) -> Any:
        with self._lock:
            if self._needs_reset:
                old, self._producer = self._producer, Producer(self._config)
                self._needs_reset = False
                old.flush(0)
            return self._producer

    def _failed(self, reason: str) -> TransientError:
        if self._integration:
            self._metrics.dead_letter_failures.labels(self._integration).inc()
        # The reason is a librdkafka error name or exception class: no configuration values.
        return TransientError(f"dead-letter write to {self.topic} failed: {reason}")

    async def send(self, record: ConsumedRecord, headers: Headers) -> None:
        """Write `record`'s key, value and timestamp with `headers`; return once acknowledged.

        Raises `TransientError` if the write fails or times out (`delivery_timeout_ms`).
        Cancelling the wait does not withdraw the write (a duplicate dead letter is possible,
        a lost one is not).
        """
        if self._closed.is_set():
            raise RuntimeError("the dead-letter producer is closed")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(err: KafkaError | None) -> None:
            if done.done():
                return
            if err is None:
                done.set_result(None)
            else:
                if err.fatal():
                    self._needs_reset = True
                done.set_exception(self._failed(err.name()))

        def on_delivery(err: KafkaError | None, _msg: object) -> None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(settle, err)

        try:
            self._current().produce(
                self.topic,
                key=record.key,
                value=record.value,
                headers=headers,
                timestamp=record.timestamp_ms if record.timestamp_ms >= 0 else 0,
                on_delivery=on_delivery,
            )
        except BufferError:
            raise self._failed("local queue full") from None
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            raise self._failed(error.name() if error else type(exc).__name__) from None
        await done
        if self._integration:
            self._metrics.dead_letters.labels(
                self._integration,
                header_value(headers, Header.STAGE) or "",
                header_value(headers, Header.EXCEPTION_CLASS) or "",
                header_value(headers, Header.ENTITY_TYPE) or "",
            ).inc()

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush what is pending (up to `timeout_s`) and stop the poll thread."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._poller.join()
        with self._lock:
            remaining = self._producer.flush(timeout_s)
        if remaining:
            _log.error(
                "%d dead letter(s) to %s were not acknowledged at close", remaining, self.topic
            )
