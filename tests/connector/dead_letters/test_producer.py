from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from prometheus_client import CollectorRegistry

from connector.dead_letters.headers import (
    DeadLetter,
    DeadLetterContext,
    Failure,
    Stage,
    dead_letter_headers,
)
from connector.dead_letters.producer import DeadLetterProducer
from connector.kafka.records import ConsumedRecord
from connector.metrics import ConnectorMetrics
from connector.redaction import Redactor
from contracts.errors import ConfigurationError, TransientError

if TYPE_CHECKING:
    from tests.conftest import CreateTopics, UniqueTopic
    from tests.connector.dead_letters.conftest import ReadTopic

SECRET = "sk_live_51HxQ2e-very-secret"
CONTEXT = DeadLetterContext("int-1", "shop-eu", "iec-connector.int-1", "magento2", "1.4.0")


def _record() -> ConsumedRecord:
    return ConsumedRecord(
        topic="iec.mutations.product",
        partition=0,
        offset=17,
        key=b"e-17",
        value=b"\xc3\x01not-really-avro",
        headers=[("traceparent", b"00-abc-01")],
        timestamp_ms=1_700_000_123_456,
        entity_type="product",
    )


@pytest.fixture
def metrics() -> tuple[CollectorRegistry, ConnectorMetrics]:
    registry = CollectorRegistry()
    return registry, ConnectorMetrics(registry)


async def test_a_dead_letter_is_acknowledged_and_its_headers_round_trip(
    kafka_bootstrap: str,
    unique_topic: UniqueTopic,
    create_topics: CreateTopics,
    read_back: ReadTopic,
    metrics: tuple[CollectorRegistry, ConnectorMetrics],
) -> None:
    registry, connector_metrics = metrics
    (topic,) = create_topics([unique_topic("dlq")])
    record = _record()
    failed_at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    headers = dead_letter_headers(
        record,
        Failure(Stage.HANDLE, ValueError("bad sku"), 1, failed_at=failed_at),
        CONTEXT,
        Redactor(),
    )
    producer = DeadLetterProducer(
        {"bootstrap.servers": kafka_bootstrap},
        topic,
        integration_uuid="int-1",
        metrics=connector_metrics,
    )
    try:
        await producer.send(record, headers)
    finally:
        producer.close()

    (msg,) = read_back(topic)  # acknowledged means readable, without any flush
    assert msg.key() == record.key
    assert msg.value() == record.value
    assert msg.timestamp()[1] == record.timestamp_ms
    assert msg.headers() == headers
    dl = DeadLetter.from_message(
        msg.topic(),
        msg.partition(),
        msg.offset(),
        msg.key(),
        msg.value(),
        msg.headers(),
        msg.timestamp()[1],
    )
    assert dl.source == ("iec.mutations.product", 0, 17)
    assert dl.exception_class == "ValueError"
    assert dl.failed_at == failed_at
    labels = {
        "integration": "int-1",
        "stage": "handle",
        "error_class": "ValueError",
        "entity_type": "product",
    }
    assert registry.get_sample_value("iec_connector_dead_letters_total", labels) == 1


async def test_a_secret_in_an_exception_message_never_reaches_the_topic(
    kafka_bootstrap: str,
    unique_topic: UniqueTopic,
    create_topics: CreateTopics,
    read_back: ReadTopic,
) -> None:
    (topic,) = create_topics([unique_topic("dlq")])
    try:
        raise PermissionError(f"403 for api_key={SECRET}")
    except PermissionError as exc:
        error = exc
    headers = dead_letter_headers(
        _record(), Failure(Stage.HANDLE, error), CONTEXT, Redactor([SECRET])
    )
    producer = DeadLetterProducer({"bootstrap.servers": kafka_bootstrap}, topic)
    try:
        await producer.send(_record(), headers)
    finally:
        producer.close()

    (msg,) = read_back(topic)
    for name, value in msg.headers():
        assert SECRET.encode() not in value, name
    assert (b"iec.dlt.exception.message", b"403 for api_key=***") in [
        (k.encode(), v) for k, v in msg.headers()
    ]


async def test_a_failed_write_raises_transient_error_without_secrets(
    metrics: tuple[CollectorRegistry, ConnectorMetrics],
) -> None:
    registry, connector_metrics = metrics
    # Nothing listens on port 1: the write times out after the delivery timeout.
    config = {
        "bootstrap.servers": "127.0.0.1:1",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "connector",
        "sasl.password": SECRET,
    }
    producer = DeadLetterProducer(
        config, "iec.dead-letters.nowhere", integration_uuid="int-1",
        delivery_timeout_ms=1500, metrics=connector_metrics,
    )  # fmt: skip
    try:
        with pytest.raises(TransientError) as info:
            await producer.send(_record(), [])
    finally:
        producer.close(timeout_s=0)

    assert SECRET not in str(info.value)
    assert "iec.dead-letters.nowhere" in str(info.value)
    assert (
        registry.get_sample_value(
            "iec_connector_dead_letter_write_failures_total", {"integration": "int-1"}
        )
        == 1
    )


async def test_send_many_writes_a_batch_with_one_wait_and_counts_it(
    kafka_bootstrap: str,
    unique_topic: UniqueTopic,
    create_topics: CreateTopics,
    read_back: ReadTopic,
    metrics: tuple[CollectorRegistry, ConnectorMetrics],
) -> None:
    registry, connector_metrics = metrics
    (topic,) = create_topics([unique_topic("dlq")])
    items = []
    for offset in range(30):
        record = _record()
        record.offset = offset
        record.key = f"e-{offset}".encode()
        failure = Failure(Stage.HANDLE, ValueError(f"bad {offset}"), 1)
        items.append((record, dead_letter_headers(record, failure, CONTEXT, Redactor())))
    producer = DeadLetterProducer(
        {"bootstrap.servers": kafka_bootstrap},
        topic,
        integration_uuid="int-1",
        metrics=connector_metrics,
    )
    try:
        await producer.send_many(items)
    finally:
        producer.close()

    written = read_back(topic)
    assert [m.key() for m in written] == [r.key for r, _ in items]
    assert [m.headers() for m in written] == [h for _, h in items]
    labels = {"integration": "int-1"}
    assert (
        registry.get_sample_value("iec_connector_dead_letter_write_batch_records_count", labels)
        == 1
    )
    assert (
        registry.get_sample_value("iec_connector_dead_letter_write_batch_records_sum", labels) == 30
    )
    assert registry.get_sample_value(
        "iec_connector_dead_letters_total",
        {"integration": "int-1", "stage": "handle", "error_class": "ValueError",
         "entity_type": "product"},
    ) == 30  # fmt: skip


async def test_a_topic_the_cluster_refuses_for_good_raises_configuration_error(
    kafka_bootstrap: str, metrics: tuple[CollectorRegistry, ConnectorMetrics]
) -> None:
    registry, connector_metrics = metrics
    producer = DeadLetterProducer(
        {"bootstrap.servers": kafka_bootstrap},
        "not a valid topic name!",
        integration_uuid="int-1",
        delivery_timeout_ms=5000,
        metrics=connector_metrics,
    )
    try:
        with pytest.raises(ConfigurationError, match="TOPIC_EXCEPTION"):
            await producer.send(_record(), [])
    finally:
        producer.close(timeout_s=0)
    failures = "iec_connector_dead_letter_write_failures_total"
    assert registry.get_sample_value(failures, {"integration": "int-1"}) == 1
