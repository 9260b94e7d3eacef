"""`iec-connector mappings get|count|export` against the real broker, with options or --config."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner, Result

from connector.cli.failures import EXIT_CONFIGURATION
from connector.cli.mappings_cmd import EXIT_NOT_FOUND, app

if TYPE_CHECKING:
    from connector.local_kafka import SaslEndpoint
    from tests.connector.mapping_store.conftest import MakeStore

WriteConfig = Callable[[str], Path]

pytestmark = pytest.mark.kafka


@pytest.fixture
def filled(make_store: MakeStore, topic_prefix: str, integration_uuid: str) -> list[dict[str, Any]]:
    """Three mappings on `<topic_prefix>.<integration>`, as `export` should print them."""
    store = make_store(topic=f"{topic_prefix}.{integration_uuid}", clock=lambda: 1_700_000_000.5)
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


def _run(kafka_bootstrap: str, topic_prefix: str, integration: str, *args: str) -> Result:
    common = ["--integration", integration, "--topic-prefix", topic_prefix]
    return CliRunner().invoke(
        app, [*args, *common], env={"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "COLUMNS": "200"}
    )


def test_count_prints_the_number_of_mappings(
    filled: list[dict[str, Any]], kafka_bootstrap: str, topic_prefix: str, integration_uuid: str
) -> None:
    result = _run(kafka_bootstrap, topic_prefix, integration_uuid, "count")
    assert result.exit_code == 0, result.output
    assert result.stdout == "3\n"


def test_get_prints_one_mapping_as_json(
    filled: list[dict[str, Any]], kafka_bootstrap: str, topic_prefix: str, integration_uuid: str
) -> None:
    result = _run(
        kafka_bootstrap,
        topic_prefix,
        integration_uuid,
        "get",
        "category",
        "c:1",
        "--output",
        "json",
    )
    table = _run(kafka_bootstrap, topic_prefix, integration_uuid, "get", "category", "c:1")
    counted = _run(kafka_bootstrap, topic_prefix, integration_uuid, "count", "--output", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == filled[2]
    assert table.exit_code == 0, table.output
    assert "external_id" in table.stdout
    assert str(filled[2]["external_id"]) in table.stdout
    assert json.loads(counted.stdout) == {
        "integration": integration_uuid,
        "topic": f"{topic_prefix}.{integration_uuid}",
        "count": 3,
    }


def test_get_of_an_unmapped_entity_exits_3(
    filled: list[dict[str, Any]], kafka_bootstrap: str, topic_prefix: str, integration_uuid: str
) -> None:
    result = _run(kafka_bootstrap, topic_prefix, integration_uuid, "get", "product", "nope")
    assert result.exit_code == EXIT_NOT_FOUND
    assert "no mapping for product:nope" in result.stderr
    assert result.stdout == ""


def test_export_writes_every_mapping_as_json_lines(
    filled: list[dict[str, Any]],
    kafka_bootstrap: str,
    topic_prefix: str,
    integration_uuid: str,
    tmp_path: Path,
) -> None:
    target = tmp_path / "mappings.jsonl"
    result = _run(
        kafka_bootstrap, topic_prefix, integration_uuid, "export", "--output", str(target)
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    key = lambda row: (row["entity_type"], row["entity_uuid"])  # noqa: E731
    assert sorted(rows, key=key) == sorted(filled, key=key)
    assert f"exported 3 mappings to {target}" in result.stderr

    to_stdout = _run(kafka_bootstrap, topic_prefix, integration_uuid, "export")
    assert to_stdout.exit_code == 0, to_stdout.output
    assert sorted(map(json.loads, to_stdout.stdout.splitlines()), key=key) == sorted(
        filled, key=key
    )


def test_a_missing_topic_is_reported_and_not_created(
    kafka_bootstrap: str, topic_prefix: str, integration_uuid: str, admin: AdminClient
) -> None:
    result = _run(kafka_bootstrap, topic_prefix, integration_uuid, "count")
    assert result.exit_code == EXIT_CONFIGURATION  # 2: the configuration or topics must change
    (line,) = result.stderr.splitlines()  # one line, not wrapped at 80 columns by Rich
    assert line.startswith("error: mapping topic ")
    assert "does not exist" in line
    assert "iec-connector topics create" in line
    assert f"{topic_prefix}.{integration_uuid}" not in admin.list_topics(timeout=10).topics


def _config(write_config: WriteConfig, kafka: str, topic_prefix: str, integration: str) -> Path:
    """A configuration with the `kafka` section given (YAML flow style), the test's mapping
    prefix, and the test's integration named "shop-eu" among others."""
    return write_config(
        f"""
        kafka: {kafka}
        topics: {{mapping_prefix: {topic_prefix}}}
        integrations:
          - {{uuid: {integration}, name: shop-eu, driver: magento2}}
          - {{uuid: 8a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d, name: erp, driver: sap}}
        """
    )


def _run_with(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        app, [*args, "--config", str(config)], env={"COLUMNS": "200", **(env or {})}
    )


@pytest.mark.parametrize("by", ["uuid", "name"])
def test_every_command_reads_through_the_config_naming_the_integration_by_uuid_or_name(
    filled: list[dict[str, Any]],
    kafka_bootstrap: str,
    topic_prefix: str,
    integration_uuid: str,
    write_config: WriteConfig,
    by: str,
) -> None:
    kafka = f"{{bootstrap_servers: '{kafka_bootstrap}'}}"
    config = _config(write_config, kafka, topic_prefix, integration_uuid)
    ref = ["--integration", integration_uuid.upper() if by == "uuid" else "shop-eu"]
    # The config names the cluster: the variable neither wins nor counts as a given option.
    env = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}

    counted = _run_with(config, "count", *ref, env=env)
    got = _run_with(config, "get", "category", "c:1", *ref, "--output", "json", env=env)
    exported = _run_with(config, "export", *ref, env=env)

    assert counted.exit_code == 0, counted.output
    assert counted.stdout == "3\n"
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout) == filled[2]
    assert exported.exit_code == 0, exported.output
    rows = sorted(map(json.loads, exported.stdout.splitlines()), key=lambda r: r["entity_uuid"])
    assert rows == sorted(filled, key=lambda r: r["entity_uuid"])


def test_the_config_reaches_a_sasl_cluster_and_never_prints_the_password(
    filled: list[dict[str, Any]],
    kafka_sasl: SaslEndpoint,
    topic_prefix: str,
    integration_uuid: str,
    write_config: WriteConfig,
) -> None:
    kafka = (
        f"{{bootstrap_servers: '{kafka_sasl.bootstrap}', security_protocol: SASL_PLAINTEXT, "
        f"sasl_mechanism: {kafka_sasl.mechanism}, sasl_username: {kafka_sasl.username}, "
        "sasl_password: '${TEST_SASL_PASSWORD}'}"
    )
    config = _config(write_config, kafka, topic_prefix, integration_uuid)
    wrong_password = "wrong-Pa55word-4711"

    good = _run_with(
        config, "count", "-i", "shop-eu", env={"TEST_SASL_PASSWORD": kafka_sasl.password}
    )
    wrong = _run_with(config, "count", "-i", "shop-eu", env={"TEST_SASL_PASSWORD": wrong_password})

    assert good.exit_code == 0, good.output
    assert good.stdout == "3\n"
    assert kafka_sasl.password not in good.output
    assert wrong.exit_code == 2
    assert "rejected the connection" in wrong.stderr
    assert "kafka.sasl_password" in wrong.stderr
    assert wrong_password not in wrong.output
