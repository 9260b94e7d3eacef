"""The codec a configuration asks for: with its schema registry, if it has one."""

from __future__ import annotations

from connector.codec.mutation import MutationCodec
from connector.config import SchemaRegistrySettings
from connector.topics import TopicSettings

__all__ = ["configured_codec"]


def configured_codec(
    registry: SchemaRegistrySettings | None, topics: TopicSettings
) -> MutationCodec:
    """Single-object framing without a registry; schema-registry framing with one."""
    if registry is None:
        return MutationCodec(topics=topics)
    from confluent_kafka.schema_registry import SchemaRegistryClient

    client = SchemaRegistryClient(registry.client_config())
    return MutationCodec(schema_registry_client=client, topics=topics)
