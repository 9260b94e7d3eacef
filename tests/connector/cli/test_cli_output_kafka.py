"""`--output json` and 80-column tables of the list/show commands that read the cluster."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer
from typer.testing import Result

from connector.codec import MutationCodec
from connector.dead_letters.headers import Header
from connector.topics import TopicSettings
from contracts import MutationData, Operation

Invoke = Callable[..., Result]
LIST_FIELDS = [
    "topic",
    "partition",
    "offset",
    "failed_at",
    "stage",
    "error_kind",
    "error_class",
    "message",
    "entity_type",
    "entity_uuid",
    "attempts",
    "replay_count",
    "codec_reason",
    "origin_topic",
    "origin_partition",
    "origin_offset",
    "integration_uuid",
    "driver_type",
]


@pytest.fixture
def dead_letters(
    kafka_bootstrap: str,
    create_topics: Callable[..., list[str]],
    unique_topic: Callable[[str], str],
) -> tuple[TopicSettings, str]:
    """Three dead letters, as the runtime writes them, in a dead-letter topic of their own."""
    topics = TopicSettings(dead_letter_prefix=unique_topic("dlq"))
    integration = str(uuid.uuid4())
    (topic,) = create_topics([topics.dead_letter_topic(integration)])
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for n in range(3):
        mutation = MutationData(
            entity_type="product",
            entity_uuid=f"product-with-a-rather-long-uuid-{n:04d}",
            operation=Operation.UPDATED,
            payload={"sku": f"SKU-{n}"},
            version=n + 1,
        )
        headers = {
            Header.ORIGIN_TOPIC: "iec.mutations.product",
            Header.ORIGIN_PARTITION: "0",
            Header.ORIGIN_OFFSET: str(100 + n),
            Header.INTEGRATION_UUID: integration,
            Header.DRIVER_TYPE: "example",
            Header.STAGE: "handle",
            Header.ERROR_KIND: "permanent",
            Header.EXCEPTION_CLASS: "contracts.errors.PermanentError",
            Header.EXCEPTION_MESSAGE: "the store refused the product: price must be positive "
            "and the category must exist before a product is assigned to it",
            Header.ATTEMPTS: "1",
            Header.FAILED_AT: datetime(2026, 5, 1, 12, n, tzinfo=UTC).isoformat(),
            Header.ENTITY_TYPE: "product",
            Header.ENTITY_UUID: mutation.entity_uuid,
        }
        producer.produce(
            topic,
            key=mutation.entity_uuid.encode(),
            value=MutationCodec().encode(mutation),
            headers=[(str(name), value.encode()) for name, value in headers.items()],
        )
    assert producer.flush(30) == 0
    return topics, integration


def _common(topics: TopicSettings, integration: str) -> list[str]:
    return ["-i", integration, "--dead-letter-prefix", topics.dead_letter_prefix]


def test_dead_letters_list_and_show_as_json_lines(
    invoke: Invoke, kafka_bootstrap: str, dead_letters: tuple[TopicSettings, str]
) -> None:
    topics, integration = dead_letters
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    args = _common(topics, integration)

    listed = invoke("dead-letters", "list", *args, "--output", "json", env=env)
    shown = invoke("dead-letters", "show", "1", *args, "--output", "json", env=env)

    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [list(row) for row in rows] == [LIST_FIELDS] * 3
    assert [row["offset"] for row in rows] == [0, 1, 2]
    assert {row["error_class"] for row in rows} == {"contracts.errors.PermanentError"}
    assert shown.exit_code == 0, shown.output
    (line,) = shown.stdout.splitlines()
    one = json.loads(line)
    assert list(one)[: len(LIST_FIELDS)] == LIST_FIELDS
    assert one["offset"] == 1
    assert one["mutation"]["entity_uuid"] == "product-with-a-rather-long-uuid-0001"
    assert one["decode_error"] is None
    assert one["headers"][str(Header.STAGE)] == "handle"


def test_dead_letters_list_fits_80_columns_without_crushing(
    invoke: Invoke, kafka_bootstrap: str, dead_letters: tuple[TopicSettings, str]
) -> None:
    topics, integration = dead_letters
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "COLUMNS": "80"}

    result = invoke("dead-letters", "list", *_common(topics, integration), env=env)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "offset" in line)
    for column in ("offset", "entity", "error"):
        assert column in header
    assert "not shown at this width" in result.stdout
    for n in range(3):
        assert f"0/{n}" in result.stdout
