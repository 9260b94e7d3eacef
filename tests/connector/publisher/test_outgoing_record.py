"""What record a mutation becomes, and how `PublishError` reports failures (no broker)."""

from __future__ import annotations

from connector.codec import MutationCodec
from connector.publisher import EVENT_ID_HEADER, DeliveryFailure, PublishError
from connector.publisher.outgoing import outgoing_record
from connector.topics import TopicSettings
from contracts import MutationData


def test_record_goes_to_the_entity_types_topic_keyed_by_entity_uuid() -> None:
    codec = MutationCodec()
    mutation = MutationData(
        entity_type="category", entity_uuid="c-7", operation="deleted", event_id="e-1"
    )

    record = outgoing_record(mutation, codec, TopicSettings(mutation_prefix="shop"))

    assert record.topic == "shop.category"
    assert record.key == b"c-7"
    assert record.headers == [(EVENT_ID_HEADER, b"e-1")]
    assert codec.decode(record.value) == mutation


def test_record_without_event_id_has_no_headers() -> None:
    mutation = MutationData(entity_type="product", entity_uuid="p", operation="created")

    assert outgoing_record(mutation, MutationCodec(), TopicSettings()).headers == []


def failure(number: int) -> DeliveryFailure:
    return DeliveryFailure(
        topic="iec.mutations.product",
        entity_type="product",
        entity_uuid=f"p-{number}",
        event_id=None,
        error="MSG_SIZE_TOO_LARGE: Broker: Message size too large",
        retriable=False,
    )


def test_publish_error_names_the_first_failures_and_counts_the_rest() -> None:
    error = PublishError([failure(n) for n in range(7)], undelivered=2)

    message = str(error)

    assert message.startswith("7 mutation(s) not delivered: product p-0 to iec.mutations.product")
    assert "p-4" in message
    assert "p-5" not in message
    assert "and 2 more" in message
    assert "2 still unacknowledged" in message
    assert len(error.failures) == 7


def test_publish_error_for_a_timeout_alone() -> None:
    error = PublishError([], undelivered=3)

    assert (
        str(error) == "0 mutation(s) not delivered; 3 still unacknowledged when the wait timed out"
    )
