"""Interoperability with confluent-kafka's own AvroSerializer and AvroDeserializer."""

from __future__ import annotations

from typing import Any

import orjson
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import HealthCheck, given, settings
from mutation_strategies import mutations, product

from connector.codec import MutationCodec
from connector.topics import TopicSettings
from contracts import MutationData, thaw
from schemas import schema_text

# too_slow and no deadline: generating MutationData is slow on CI's 2 shared cores (a
# FailedHealthCheck there says nothing about the codec).
REUSABLE_FIXTURES = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    max_examples=50,
    deadline=None,
)


def as_avro_dict(
    mutation: MutationData, _ctx: SerializationContext | None = None
) -> dict[str, Any]:
    """The record a producer using confluent-kafka's serializer would build by hand."""
    return {
        "entity_type": mutation.entity_type,
        "entity_uuid": mutation.entity_uuid,
        "operation": mutation.operation.value,
        "payload": orjson.dumps(thaw(mutation.payload)).decode(),
        "changed_fields": list(mutation.changed_fields),
        "event_id": mutation.event_id,
        "occurred_at": mutation.occurred_at,
        "version": mutation.version,
    }


def value_context(mutation: MutationData) -> SerializationContext:
    topic = TopicSettings().mutation_topic(mutation.entity_type)
    return SerializationContext(topic, MessageField.VALUE)


@REUSABLE_FIXTURES
@given(mutation=mutations())
def test_values_written_by_confluents_avro_serializer_decode(
    registry: SchemaRegistryClient, confluent_codec: MutationCodec, mutation: MutationData
) -> None:
    serializer = AvroSerializer(registry, schema_text("mutation_data"), as_avro_dict)

    value = serializer(mutation, value_context(mutation))

    assert value is not None
    assert confluent_codec.decode(value) == mutation


@REUSABLE_FIXTURES
@given(mutation=mutations())
def test_our_registry_framed_values_decode_with_confluents_avro_deserializer(
    registry: SchemaRegistryClient, confluent_codec: MutationCodec, mutation: MutationData
) -> None:
    deserializer = AvroDeserializer(registry)

    record = deserializer(confluent_codec.encode(mutation), value_context(mutation))

    assert isinstance(record, dict)
    expected = as_avro_dict(mutation)
    assert orjson.loads(record.pop("payload")) == orjson.loads(expected.pop("payload"))
    assert record == expected


def test_serializer_and_codec_share_the_registered_schema_id(
    registry: SchemaRegistryClient, confluent_codec: MutationCodec
) -> None:
    mutation = product()
    serializer = AvroSerializer(registry, schema_text("mutation_data"), as_avro_dict)

    theirs = serializer(mutation, value_context(mutation))
    ours = confluent_codec.encode(mutation)

    assert theirs is not None
    assert theirs[:5] == ours[:5]
