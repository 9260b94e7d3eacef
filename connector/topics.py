"""Names of every topic and consumer group the connector uses, in one place."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["TopicSettings"]

_TOPIC_PART = re.compile(r"^[A-Za-z0-9._-]+$")


class TopicSettings(BaseModel):
    """The `topics` section of the configuration: prefixes, and settings for `topics create`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mutation_prefix: str = "iec.mutations"
    """Mutations of entity type T are on `<mutation_prefix>.<T>`."""
    mapping_prefix: str = "iec.mappings"
    dead_letter_prefix: str = "iec.dead-letters"
    retry_prefix: str = "iec.retry"
    group_prefix: str = "iec-connector"
    """Integration U consumes as group `<group_prefix>.<U>`."""
    partitions: int = Field(6, ge=1)
    """Partitions of mutation topics created by `topics create` (per-key order needs only 1)."""
    replication_factor: int = Field(1, ge=1)
    create_missing: bool = False
    """Whether `run` creates the topics it needs when they are missing. Off by default, so the
    runtime's principal needs no Create ACL: `iec-connector topics create` (an admin job)
    creates them. Without it `run` refuses to start while a topic is missing."""

    @field_validator(
        "mutation_prefix", "mapping_prefix", "dead_letter_prefix", "retry_prefix", "group_prefix"
    )
    @classmethod
    def _legal(cls, value: str) -> str:
        if not _TOPIC_PART.match(value):
            raise ValueError("may contain only letters, digits, '.', '_' and '-'")
        return value

    def mutation_topic(self, entity_type: str) -> str:
        return f"{self.mutation_prefix}.{entity_type}"

    def entity_type_of(self, topic: str) -> str | None:
        """The entity type of a mutation topic, or None if `topic` is not one."""
        head = self.mutation_prefix + "."
        return topic[len(head) :] if topic.startswith(head) else None

    def mapping_topic(self, integration_uuid: str) -> str:
        return f"{self.mapping_prefix}.{integration_uuid}"

    def dead_letter_topic(self, integration_uuid: str) -> str:
        return f"{self.dead_letter_prefix}.{integration_uuid}"

    def retry_topic(self, integration_uuid: str) -> str:
        return f"{self.retry_prefix}.{integration_uuid}"

    def group_id(self, integration_uuid: str) -> str:
        return f"{self.group_prefix}.{integration_uuid}"
