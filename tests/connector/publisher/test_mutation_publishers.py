"""Both publishers against a real broker: what they write decodes to equal mutations, and
delivery failures reach the caller."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest
from confluent_kafka import Message
from confluent_kafka.schema_registry import SchemaRegistryClient

from connector.codec import Framing, MutationCodec
from connector.local_kafka import SaslEndpoint
from connector.publisher import (
    EVENT_ID_HEADER,
    AsyncMutationPublisher,
    DeliveryReport,
    MutationPublisher,
    PublishError,
)
from connector.topics import TopicSettings
from contracts import MutationData, Operation

Consume = Callable[[Sequence[str], int], list[Message]]
ENTITY_TYPES = ("product", "category")


@pytest.fixture
def topic_settings(
    unique_topic: Callable[[str], str], create_topics: Callable[..., list[str]]
) -> TopicSettings:
    """Settings with a mutation prefix no other test uses; its product and category topics
    exist (one partition each, so the read order is the write order)."""
    settings = TopicSettings(mutation_prefix=unique_topic("mutations"))
    create_topics([settings.mutation_topic(t) for t in ENTITY_TYPES])
    return settings


def mutations(publisher: str, count: int = 6) -> list[MutationData]:
    """A created→updated→deleted history per entity, across both entity types."""
    operations = [Operation.CREATED, Operation.UPDATED, Operation.DELETED]
    return [
        MutationData(
            entity_type=ENTITY_TYPES[i % 2],
            entity_uuid=f"{publisher}-{i % 2}",
            operation=operations[(i // 2) % 3],
            payload={"name": f"Nr. {i} Grüße", "values": [{"code": "c", "value": i}]},
            changed_fields=("name",),
            event_id=f"{publisher}-evt-{i}",
            occurred_at=datetime(2024, 6, 1, 12, 0, i, tzinfo=UTC),
            version=i,
        )
        for i in range(count)
    ]


def incompressible_payload(size: int) -> dict[str, str]:
    return {"blob": base64.b64encode(os.urandom(size)).decode()}


def big_mutation(size: int) -> MutationData:
    return MutationData(
        entity_type="product",
        entity_uuid="too-big",
        operation=Operation.CREATED,
        payload=incompressible_payload(size),
        event_id="big",
    )


def assert_read_back(
    consume: Consume, topics: TopicSettings, codec: MutationCodec, sent: list[MutationData]
) -> None:
    messages = consume([topics.mutation_topic(t) for t in ENTITY_TYPES], len(sent))

    decoded = [codec.decode(m.value() or b"") for m in messages]
    assert sorted(decoded, key=lambda m: m.event_id or "") == sorted(
        sent, key=lambda m: m.event_id or ""
    )
    for message, mutation in zip(messages, decoded, strict=True):
        assert message.topic() == topics.mutation_topic(mutation.entity_type)
        assert message.key() == mutation.entity_uuid.encode()
        assert dict(message.headers() or [])[EVENT_ID_HEADER] == (mutation.event_id or "").encode()
    for entity_uuid in {m.entity_uuid for m in sent}:
        read_versions = [m.version or 0 for m in decoded if m.entity_uuid == entity_uuid]
        assert read_versions == sorted(read_versions), "per-entity order was not kept"


async def test_records_from_both_publishers_decode_to_equal_mutation_data(
    kafka_bootstrap: str, topic_settings: TopicSettings, consume: Consume
) -> None:
    from_sync, from_async = mutations("sync"), mutations("async")

    with MutationPublisher(kafka_bootstrap, topics=topic_settings) as publisher:
        futures = [publisher.publish(m) for m in from_sync]
    async with AsyncMutationPublisher(kafka_bootstrap, topics=topic_settings) as aio:
        results = [await aio.publish(m) for m in from_async]
        await aio.flush()

    assert all(isinstance(f.result(timeout=0), DeliveryReport) for f in futures)
    assert all(isinstance(r.result(), DeliveryReport) for r in results)
    assert_read_back(consume, topic_settings, MutationCodec(), from_sync + from_async)


async def test_both_publishers_write_schema_registry_framing_when_given_that_codec(
    kafka_bootstrap: str, topic_settings: TopicSettings, consume: Consume
) -> None:
    registry = SchemaRegistryClient.new_client({"url": "mock://publisher-tests"})
    codec = MutationCodec(
        framing=Framing.CONFLUENT, schema_registry_client=registry, topics=topic_settings
    )
    from_sync, from_async = mutations("sync", 4), mutations("async", 4)

    with MutationPublisher(kafka_bootstrap, topics=topic_settings, codec=codec) as publisher:
        for mutation in from_sync:
            publisher.publish(mutation)
    async with AsyncMutationPublisher(kafka_bootstrap, topics=topic_settings, codec=codec) as aio:
        for mutation in from_async:
            await aio.publish(mutation)

    assert_read_back(consume, topic_settings, codec, from_sync + from_async)
    assert sorted(registry.get_subjects()) == sorted(
        f"{topic_settings.mutation_topic(t)}-value" for t in ENTITY_TYPES
    )


async def test_publish_and_wait_return_where_the_record_was_written(
    kafka_bootstrap: str, topic_settings: TopicSettings
) -> None:
    first, second = mutations("wait", 2)

    with MutationPublisher(kafka_bootstrap, topics=topic_settings) as publisher:
        sync_report = publisher.publish_and_wait(first, timeout=30)
    async with AsyncMutationPublisher(kafka_bootstrap, topics=topic_settings) as aio:
        async with asyncio.timeout(30):
            async_report = await aio.publish_and_wait(second)

    assert sync_report == DeliveryReport(
        topic=topic_settings.mutation_topic("product"),
        partition=0,
        offset=0,
        entity_uuid=first.entity_uuid,
        event_id=first.event_id,
    )
    assert async_report.topic == topic_settings.mutation_topic("category")
    assert (async_report.partition, async_report.offset) == (0, 0)


@pytest.fixture
def small_message_topics(
    unique_topic: Callable[[str], str], create_topics: Callable[..., list[str]]
) -> TopicSettings:
    """A product topic whose broker-side limit is 1 KiB per record batch."""
    settings = TopicSettings(mutation_prefix=unique_topic("small"))
    create_topics([settings.mutation_topic("product")], config={"max.message.bytes": "1024"})
    return settings


def test_broker_rejection_fails_the_future_and_the_next_flush(
    kafka_bootstrap: str, small_message_topics: TopicSettings
) -> None:
    publisher = MutationPublisher(kafka_bootstrap, topics=small_message_topics)
    future = publisher.publish(big_mutation(8_000))

    with pytest.raises(PublishError) as at_flush:
        publisher.flush(timeout=30)
    with pytest.raises(PublishError) as at_future:
        future.result(timeout=0)
    publisher.close()

    (failure,) = at_flush.value.failures
    assert failure.entity_uuid == "too-big"
    assert failure.event_id == "big"
    assert "TOO_LARGE" in failure.error
    assert at_future.value.failures == at_flush.value.failures


def test_publish_and_wait_raises_the_broker_rejection_and_flush_does_not_repeat_it(
    kafka_bootstrap: str, small_message_topics: TopicSettings
) -> None:
    with MutationPublisher(kafka_bootstrap, topics=small_message_topics) as publisher:
        with pytest.raises(PublishError, match="too-big"):
            publisher.publish_and_wait(big_mutation(8_000), timeout=30)

        publisher.flush(timeout=30)


async def test_async_broker_rejection_fails_the_future_and_the_next_flush(
    kafka_bootstrap: str, small_message_topics: TopicSettings
) -> None:
    async with AsyncMutationPublisher(kafka_bootstrap, topics=small_message_topics) as aio:
        result = await aio.publish(big_mutation(8_000))

        with pytest.raises(PublishError) as at_flush:
            await aio.flush()
        with pytest.raises(PublishError):
            await aio.publish_and_wait(big_mutation(8_000))

    with pytest.raises(PublishError) as at_future:
        result.result()
    (failure,) = at_flush.value.failures
    assert failure.entity_uuid == "too-big"
    assert "TooLarge" in failure.error
    assert at_future.value.failures == at_flush.value.failures


def test_record_the_client_refuses_raises_from_publish(
    kafka_bootstrap: str, topic_settings: TopicSettings
) -> None:
    with (
        MutationPublisher(
            kafka_bootstrap, topics=topic_settings, config={"message.max.bytes": 2000}
        ) as publisher,
        pytest.raises(PublishError) as caught,
    ):
        publisher.publish(big_mutation(8_000))

    assert "MSG_SIZE_TOO_LARGE" in caught.value.failures[0].error


async def test_async_record_the_client_refuses_raises_from_publish(
    kafka_bootstrap: str, topic_settings: TopicSettings
) -> None:
    async with AsyncMutationPublisher(
        kafka_bootstrap, topics=topic_settings, config={"max_request_size": 2000}
    ) as aio:
        with pytest.raises(PublishError) as caught:
            await aio.publish(big_mutation(8_000))

    assert "MessageSizeTooLarge" in caught.value.failures[0].error


async def test_closed_publishers_refuse_to_publish(
    kafka_bootstrap: str, topic_settings: TopicSettings
) -> None:
    (mutation,) = mutations("closed", 1)
    publisher = MutationPublisher(kafka_bootstrap, topics=topic_settings)
    publisher.close()
    aio = AsyncMutationPublisher(kafka_bootstrap, topics=topic_settings)
    await aio.start()
    await aio.close()

    with pytest.raises(RuntimeError, match="closed"):
        publisher.publish(mutation)
    with pytest.raises(RuntimeError, match="closed"):
        await aio.publish(mutation)


async def test_extra_client_config_reaches_both_clients_over_sasl_scram(
    kafka_sasl: SaslEndpoint, topic_settings: TopicSettings, consume: Consume
) -> None:
    from_sync, from_async = mutations("sasl-sync", 2), mutations("sasl-async", 2)
    librdkafka_sasl = {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": kafka_sasl.mechanism,
        "sasl.username": kafka_sasl.username,
        "sasl.password": kafka_sasl.password,
    }
    aiokafka_sasl = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": kafka_sasl.mechanism,
        "sasl_plain_username": kafka_sasl.username,
        "sasl_plain_password": kafka_sasl.password,
    }

    with MutationPublisher(
        kafka_sasl.bootstrap, topics=topic_settings, config=librdkafka_sasl
    ) as publisher:
        for mutation in from_sync:
            publisher.publish(mutation)
    async with AsyncMutationPublisher(
        kafka_sasl.bootstrap, topics=topic_settings, config=aiokafka_sasl
    ) as aio:
        for mutation in from_async:
            await aio.publish(mutation)

    assert_read_back(consume, topic_settings, MutationCodec(), from_sync + from_async)


def test_failed_authentication_surfaces_without_the_password(
    kafka_sasl: SaslEndpoint, topic_settings: TopicSettings
) -> None:
    wrong_password = "not-the-password-7f3a"
    config = {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": kafka_sasl.mechanism,
        "sasl.username": kafka_sasl.username,
        "sasl.password": wrong_password,
        "message.timeout.ms": 3000,
    }
    (mutation,) = mutations("auth", 1)
    publisher = MutationPublisher(kafka_sasl.bootstrap, topics=topic_settings, config=config)
    publisher.publish(mutation)

    with pytest.raises(PublishError) as caught:
        publisher.flush(timeout=30)
    publisher.close()

    assert caught.value.failures[0].entity_uuid == mutation.entity_uuid
    assert "Authentication failed" in caught.value.failures[0].error
    assert wrong_password not in str(caught.value)
    assert all(wrong_password not in f.error for f in caught.value.failures)
