"""Write dead letters and wait for the broker's acknowledgement.

A thin adapter over `AckedProducer` (acks=all, idempotent). `send` and `send_many` return
only once every record is durably written, so the runtime may then commit their offsets; a
failed write raises `TransientError` (the runtime retries it and commits nothing meanwhile).
`send_many` and `write` write all their records together and wait once: a batch's failed
records cost one round trip, not one each; `write` tells which failed, so only those are
written again (no duplicate of the others).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from connector.dead_letters.headers import Header, Headers, header_value
from connector.kafka import (
    AckedProducer,
    ConsumedRecord,
    Delivery,
    ErrorFamily,
    ProducerRecord,
    describe,
    family_of,
)
from connector.metrics import METRICS, ConnectorMetrics
from contracts.errors import ConfigurationError, TransientError

__all__ = ["DeadLetterProducer"]

_log = logging.getLogger(__name__)

# A dead letter is its record plus context headers, so it is larger than what the origin
# topic accepted: leave the size limit to the dead-letter topic (`max.message.bytes`)
# rather than refuse locally, which no topic setting could fix without a restart.
_MESSAGE_MAX_BYTES = 64 * 1024 * 1024


class DeadLetterProducer:
    """Produces dead letters to `topic`; one instance per integration, safe for any number of
    concurrent `send`/`send_many` calls on one event loop.

    A fatal producer error (e.g. a fenced idempotent producer) makes the next call start a
    fresh producer.
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
        self._integration = integration_uuid
        self._metrics = metrics
        self._producer = AckedProducer(
            client_config,
            name=f"dead-letters-{topic}",
            logger=logging.getLogger("iec.kafka.dead_letters"),
            defaults={"message.max.bytes": _MESSAGE_MAX_BYTES, "linger.ms": 5},
            delivery_timeout_s=delivery_timeout_ms / 1000,
        )
        self._closed = False

    def warm_up(self) -> None:
        """Start the producer before the first dead letter (see `AckedProducer.warm_up`)."""
        self._producer.warm_up([self.topic])

    async def send(self, record: ConsumedRecord, headers: Headers) -> None:
        """Write `record`'s key, value and timestamp with `headers`; return once acknowledged.

        Raises `TransientError` if the write fails or times out (`delivery_timeout_ms`).
        Cancelling the wait does not withdraw the write (a duplicate dead letter is possible,
        a lost one is not).
        """
        await self.send_many([(record, headers)])

    async def send_many(self, items: Sequence[tuple[ConsumedRecord, Headers]]) -> None:
        """Write every (record, headers) together; return once all are acknowledged.

        Raises `TransientError` if any write failed or timed out; the others may be written
        already, so retrying the whole call can duplicate dead letters, never lose one
        (`write` says which failed). Raises `ConfigurationError` if the cluster refuses the
        writes for good (ACLs, credentials, an invalid topic name): an operator must fix that.
        """
        outcomes = await self.write(items)
        failures = [error for error in outcomes if error is not None]
        refused = [error for error in failures if isinstance(error, ConfigurationError)]
        if refused:
            raise refused[0]
        if len(failures) == 1:
            raise failures[0]
        if failures:
            raise TransientError(
                f"{len(failures)} dead-letter writes failed, the first: {failures[0]}"
            )

    async def write(
        self, items: Sequence[tuple[ConsumedRecord, Headers]]
    ) -> list[TransientError | ConfigurationError | None]:
        """Write every (record, headers) together, with one wait for the acknowledgements;
        each item's outcome: None once acknowledged, `TransientError` if its write failed or
        timed out (write it again), `ConfigurationError` if the cluster refuses it for good
        (ACLs, credentials, an invalid topic name: an operator must fix that)."""
        if self._closed:
            raise RuntimeError("the dead-letter producer is closed")
        if not items:
            return []
        records = [
            ProducerRecord(
                self.topic,
                key=record.key,
                value=record.value,
                headers=headers,
                timestamp_ms=record.timestamp_ms if record.timestamp_ms >= 0 else 0,
            )
            for record, headers in items
        ]
        started = time.perf_counter()
        try:
            deliveries = await self._producer.asend_many(records)
        except TimeoutError:
            timed_out = self._failed(len(items), "not acknowledged in time")
            return [timed_out] * len(items)
        if self._integration:
            self._count(items, deliveries, time.perf_counter() - started)
        return [self._outcome(d) for d in deliveries]

    def _outcome(self, delivery: Delivery) -> TransientError | ConfigurationError | None:
        if delivery.ok:
            return None
        if delivery.error is not None and family_of(delivery.error) is ErrorFamily.CONFIGURATION:
            # ACLs, credentials, an invalid topic: retrying cannot help, the integration
            # must stop (nothing is committed past these records).
            return ConfigurationError(
                f"dead-letter writes to {self.topic} are refused: {describe(delivery.error)}"
            )
        return TransientError(f"dead-letter write to {self.topic} failed: {_reason(delivery)}")

    def _count(
        self,
        items: Sequence[tuple[ConsumedRecord, Headers]],
        deliveries: Sequence[Delivery],
        seconds: float,
    ) -> None:
        metrics, integration = self._metrics, self._integration
        metrics.dead_letter_write_seconds.labels(integration).observe(seconds)
        metrics.dead_letter_write_batch_size.labels(integration).observe(len(items))
        for (_record, headers), delivery in zip(items, deliveries, strict=True):
            if delivery.ok:
                metrics.dead_letters.labels(
                    integration,
                    header_value(headers, Header.STAGE) or "",
                    header_value(headers, Header.EXCEPTION_CLASS) or "",
                    header_value(headers, Header.ENTITY_TYPE) or "",
                ).inc()
            else:
                metrics.dead_letter_failures.labels(integration).inc()

    def _failed(self, count: int, reason: str) -> TransientError:
        if self._integration:
            self._metrics.dead_letter_failures.labels(self._integration).inc(count)
        # The reason is a librdkafka error name: no configuration values.
        what = "dead-letter write" if count == 1 else f"{count} dead-letter writes"
        return TransientError(f"{what} to {self.topic} failed: {reason}")

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush what is pending (up to `timeout_s`) and stop the delivery thread."""
        if self._closed:
            return
        self._closed = True
        remaining = self._producer.close(timeout_s)
        if remaining:
            _log.error(
                "%d dead letter(s) to %s were not acknowledged at close", remaining, self.topic
            )


def _reason(delivery: Delivery) -> str:
    return delivery.error.name() if delivery.error is not None else "unknown"
