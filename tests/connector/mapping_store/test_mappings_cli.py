"""`iec-connector mappings get|count|export` against the real broker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner, Result

from connector.cli.mappings_cmd import EXIT_FAILED, EXIT_NOT_FOUND, app

if TYPE_CHECKING:
    from tests.connector.mapping_store.conftest import MakeStore

pytestmark = pytest.mark.kafka


@pytest.fixture
def prefix(admin: AdminClient) -> Iterator[str]:
    """A mapping-topic prefix of this test alone; its topics are deleted afterwards."""
    prefix = f"test.mappings-cli.{uuid.uuid4().hex[:10]}"
    yield prefix
    doomed = [name for name in admin.list_topics(timeout=10).topics if name.startswith(prefix)]
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=30).values():
            future.result(timeout=30)


@pytest.fixture
def filled(make_store: MakeStore, prefix: str, integration_uuid: str) -> list[dict[str, Any]]:
    """Three mappings on `<prefix>.<integration>`, as `export` should print them."""
    store = make_store(topic=f"{prefix}.{integration_uuid}", clock=lambda: 1_700_000_000.5)
    store.start(timeout_s=60)
    store.create("product", "p-1", integration_uuid, "101", {"sku": "A"})
    store.create("product", "p-2", integration_uuid, "102", None)
    store.create("category", "c:1", integration_uuid, "7", {"path": [1, 7]})
    store.close()
    stamp = "2023-11-14T22:13:20.500+00:00"
    return [
        {"entity_type": t, "entity_uuid": u, "external_id": e, "external_data": d,
         "created_at": stamp, "updated_at": stamp}
        for t, u, e, d in [
            ("product", "p-1", "101", {"sku": "A"}),
            ("product", "p-2", "102", None),
            ("category", "c:1", "7", {"path": [1, 7]}),
        ]
    ]  # fmt: skip


def _run(kafka_bootstrap: str, prefix: str, integration: str, *args: str) -> Result:
    common = ["--integration", integration, "--topic-prefix", prefix]
    return CliRunner().invoke(
        app, [*args, *common], env={"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "COLUMNS": "200"}
    )


def test_count_prints_the_number_of_mappings(
    filled: list[dict[str, Any]], kafka_bootstrap: str, prefix: str, integration_uuid: str
) -> None:
    result = _run(kafka_bootstrap, prefix, integration_uuid, "count")
    assert result.exit_code == 0, result.output
    assert result.stdout == "3\n"


def test_get_prints_one_mapping_as_json(
    filled: list[dict[str, Any]], kafka_bootstrap: str, prefix: str, integration_uuid: str
) -> None:
    result = _run(kafka_bootstrap, prefix, integration_uuid, "get", "category", "c:1")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == filled[2]


def test_get_of_an_unmapped_entity_exits_3(
    filled: list[dict[str, Any]], kafka_bootstrap: str, prefix: str, integration_uuid: str
) -> None:
    result = _run(kafka_bootstrap, prefix, integration_uuid, "get", "product", "nope")
    assert result.exit_code == EXIT_NOT_FOUND
    assert "no mapping for product:nope" in result.stderr
    assert result.stdout == ""


def test_export_writes_every_mapping_as_json_lines(
    filled: list[dict[str, Any]],
    kafka_bootstrap: str,
    prefix: str,
    integration_uuid: str,
    tmp_path: Path,
) -> None:
    target = tmp_path / "mappings.jsonl"
    result = _run(kafka_bootstrap, prefix, integration_uuid, "export", "--output", str(target))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    key = lambda row: (row["entity_type"], row["entity_uuid"])  # noqa: E731
    assert sorted(rows, key=key) == sorted(filled, key=key)
    assert f"exported 3 mappings to {target}" in result.stderr

    to_stdout = _run(kafka_bootstrap, prefix, integration_uuid, "export")
    assert to_stdout.exit_code == 0, to_stdout.output
    assert sorted(map(json.loads, to_stdout.stdout.splitlines()), key=key) == sorted(
        filled, key=key
    )


def test_a_missing_topic_is_reported_and_not_created(
    kafka_bootstrap: str, prefix: str, integration_uuid: str, admin: AdminClient
) -> None:
    result = _run(kafka_bootstrap, prefix, integration_uuid, "count")
    assert result.exit_code == EXIT_FAILED
    assert "does not exist" in result.stderr
    assert f"{prefix}.{integration_uuid}" not in admin.list_topics(timeout=10).topics
