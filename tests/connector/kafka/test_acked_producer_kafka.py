"""`AckedProducer` against the real broker: one wait per call, the loop never blocks, and
every record gets a fate (acknowledged, refused, timed out, given up)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest
from confluent_kafka import KafkaError

from connector.kafka import AckedProducer, Delivery, ErrorFamily, ProducerRecord, family_of

if TYPE_CHECKING:
    from tests.conftest import CreateTopics, UniqueTopic
    from tests.connector.dead_letters.conftest import ReadTopic

_LOG = logging.getLogger("test.acked")
NOWHERE = {"bootstrap.servers": "127.0.0.1:1", "socket.connection.setup.timeout.ms": 1000}


@pytest.fixture
def producers() -> Iterator[list[AckedProducer]]:
    made: list[AckedProducer] = []
    yield made
    for producer in made:
        producer.close(timeout_s=0)


def _records(topic: str, n: int, size: int = 10) -> list[ProducerRecord]:
    return [ProducerRecord(topic, f"k-{i}".encode(), bytes([i % 256]) * size) for i in range(n)]


def test_a_call_is_acknowledged_in_order_and_settled_before_it_returns(
    kafka_bootstrap: str,
    unique_topic: UniqueTopic,
    create_topics: CreateTopics,
    read_back: ReadTopic,
    producers: list[AckedProducer],
) -> None:
    (topic,) = create_topics([unique_topic("acked")])
    producer = AckedProducer({"bootstrap.servers": kafka_bootstrap}, name="t", logger=_LOG)
    producers.append(producer)
    settled: list[Delivery] = []

    def settle(deliveries: Sequence[Delivery]) -> None:
        assert threading.current_thread().name == "t-deliveries"
        settled.extend(deliveries)

    records = _records(topic, 120)
    deliveries = producer.send_many(records, settle=settle)

    assert settled == deliveries  # ran before the call returned
    assert [d.record for d in deliveries] == records
    assert all(d.ok for d in deliveries)
    assert [d.offset for d in deliveries] == list(range(120))
    assert [m.key() for m in read_back(topic)] == [r.key for r in records]


def test_a_record_the_client_refuses_fails_alone_and_at_once(
    kafka_bootstrap: str,
    unique_topic: UniqueTopic,
    create_topics: CreateTopics,
    producers: list[AckedProducer],
) -> None:
    (topic,) = create_topics([unique_topic("acked")])
    producer = AckedProducer(
        {"bootstrap.servers": kafka_bootstrap},
        name="t",
        logger=_LOG,
        settings={"message.max.bytes": 10_000},
    )
    producers.append(producer)
    records = [
        *_records(topic, 1),
        ProducerRecord(topic, b"big", b"x" * 20_000),
        *_records(topic, 1),
    ]

    ok, refused, also_ok = producer.send_many(records)

    assert ok.ok
    assert also_ok.ok
    assert refused.error is not None
    assert family_of(refused.error) is ErrorFamily.PERMANENT


async def test_awaited_calls_share_the_wait_and_never_block_the_loop(
    kafka_bootstrap: str,
    unique_topic: UniqueTopic,
    create_topics: CreateTopics,
    read_back: ReadTopic,
    producers: list[AckedProducer],
) -> None:
    (topic,) = create_topics([unique_topic("acked")], partitions=3)
    producer = AckedProducer({"bootstrap.servers": kafka_bootstrap}, name="t", logger=_LOG)
    producers.append(producer)
    ticks = 0
    writing = True

    async def ticker() -> None:
        nonlocal ticks
        while writing:
            ticks += 1
            await asyncio.sleep(0)

    async def writer(n: int) -> list[Delivery]:
        return await producer.asend_many(
            [ProducerRecord(topic, f"w{n}-{i}".encode(), b"v") for i in range(5)]
        )

    tick_task = asyncio.create_task(ticker())
    results = await asyncio.gather(*(writer(n) for n in range(40)))
    writing = False
    await tick_task

    assert all(d.ok for batch in results for d in batch)
    assert len({(d.partition, d.offset) for batch in results for d in batch}) == 200
    # The loop kept running while the 40 calls waited for the broker.
    assert ticks > 40
    assert len(read_back(topic)) == 200


def test_an_unreachable_cluster_fails_every_record_with_a_transient_timeout(
    producers: list[AckedProducer],
) -> None:
    producer = AckedProducer(NOWHERE, name="t", logger=_LOG, delivery_timeout_s=1.0)
    producers.append(producer)

    deliveries = producer.send_many(_records("nowhere", 3))

    for delivery in deliveries:
        assert delivery.error is not None
        assert delivery.error.code() == KafkaError._MSG_TIMED_OUT
        assert family_of(delivery.error) is ErrorFamily.TRANSIENT


def test_a_full_local_queue_waits_then_fails_the_rest_transiently(
    producers: list[AckedProducer],
) -> None:
    producer = AckedProducer(
        NOWHERE,
        name="t",
        logger=_LOG,
        settings={"queue.buffering.max.messages": 2},
        delivery_timeout_s=1.5,
        queue_full_wait_s=0.3,
    )
    producers.append(producer)

    started = time.monotonic()
    deliveries = producer.send_many(_records("nowhere", 5))

    codes = [d.error.code() if d.error else None for d in deliveries]
    assert codes[:2] == [KafkaError._MSG_TIMED_OUT] * 2
    assert codes[2:] == [KafkaError._QUEUE_FULL] * 3
    queue_full = deliveries[2].error
    assert queue_full is not None
    assert "stayed full for 0.3 s" in queue_full.str()
    assert family_of(queue_full) is ErrorFamily.TRANSIENT
    assert time.monotonic() - started >= 0.3


def test_close_gives_up_on_unacknowledged_records_and_reports_them() -> None:
    producer = AckedProducer(NOWHERE, name="t", logger=_LOG, delivery_timeout_s=60.0)
    reported: list[Delivery] = []
    producer.submit(_records("nowhere", 2), reported.extend)

    assert producer.close(timeout_s=0.2) == 2

    assert [d.error.code() if d.error else None for d in reported] == [KafkaError._PURGE_QUEUE] * 2
    with pytest.raises(RuntimeError, match="closed"):
        producer.send_many(_records("nowhere", 1))


def test_a_fatal_client_error_makes_the_next_call_use_a_fresh_producer(
    kafka_bootstrap: str,
    unique_topic: UniqueTopic,
    create_topics: CreateTopics,
    producers: list[AckedProducer],
) -> None:
    (topic,) = create_topics([unique_topic("acked")])
    producer = AckedProducer({"bootstrap.servers": kafka_bootstrap}, name="t", logger=_LOG)
    producers.append(producer)
    assert producer.send(_records(topic, 1)[0]).ok
    # What librdkafka's error callback reports when an idempotent producer is fenced.
    fatal: Any = KafkaError(KafkaError._FATAL, "test: fenced", fatal=True)
    producer._on_client_error(fatal)

    again = producer.send(_records(topic, 1)[0])

    assert again.ok
    assert again.offset == 1
    assert producer.resets == 1
