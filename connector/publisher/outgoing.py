"""The Kafka record a mutation becomes: topic, key, value and headers (no I/O of its own)."""

from __future__ import annotations

from dataclasses import dataclass

from connector.codec import MutationCodec
from connector.publisher.delivery import DeliveryFailure
from connector.topics import TopicSettings
from contracts import MutationData

__all__ = ["EVENT_ID_HEADER", "OutgoingRecord", "outgoing_record"]

EVENT_ID_HEADER = "iec-event-id"
"""Header carrying `MutationData.event_id` (when set), for routing and de-duplication."""


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One mutation as a Kafka record, plus the identity used in reports."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, str | bytes | None]]
    entity_type: str
    entity_uuid: str
    event_id: str | None

    def failure(self, error: str, *, retriable: bool) -> DeliveryFailure:
        return DeliveryFailure(
            topic=self.topic,
            entity_type=self.entity_type,
            entity_uuid=self.entity_uuid,
            event_id=self.event_id,
            error=error,
            retriable=retriable,
        )


def outgoing_record(
    mutation: MutationData, codec: MutationCodec, topics: TopicSettings
) -> OutgoingRecord:
    """Topic ``<mutation_prefix>.<entity_type>``, key `entity_uuid` (UTF-8), value the codec's
    framed Avro. Raises `CodecError` for a mutation that cannot be encoded."""
    return OutgoingRecord(
        topic=topics.mutation_topic(mutation.entity_type),
        key=mutation.entity_uuid.encode(),
        value=codec.encode(mutation),
        headers=[(EVENT_ID_HEADER, mutation.event_id.encode())] if mutation.event_id else [],
        entity_type=mutation.entity_type,
        entity_uuid=mutation.entity_uuid,
        event_id=mutation.event_id,
    )
