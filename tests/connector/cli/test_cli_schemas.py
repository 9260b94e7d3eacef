"""`iec-connector schemas register|check` against the real schema registry (Apicurio)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from typer.testing import Result

from schemas import load_schema, schema_text

Invoke = Callable[..., Result]
WriteConfig = Callable[[str], Path]


@pytest.fixture
def prefix(unique_topic: Callable[[str], str]) -> str:
    return unique_topic("schemas")


def _config(write_config: WriteConfig, driver_type: str, prefix: str, registry_url: str) -> Path:
    return write_config(
        f"""
        kafka:
          bootstrap_servers: 127.0.0.1:9
        topics:
          mutation_prefix: {prefix}.mutations
        schema_registry:
          url: {registry_url}
          timeout_s: 10
        integrations:
          - uuid: 3f1b2c9e-5d7a-4e4b-9c1d-2a6f8e0b7c41
            name: Shop
            driver: {driver_type}
        """
    )


@pytest.fixture
def config(
    write_config: WriteConfig, driver_type: str, prefix: str, schema_registry_url: str
) -> Path:
    """One integration of the CLI test driver (product, category) and the real registry."""
    return _config(write_config, driver_type, prefix, schema_registry_url)


def subjects(prefix: str) -> list[str]:
    return [f"{prefix}.mutations.{entity}-value" for entity in ("category", "product")]


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def candidate(tmp_path: Path, schema: dict[str, Any], name: str) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(schema), encoding="utf-8")
    return path


def with_optional_field() -> dict[str, Any]:
    """A compatible evolution: a new optional field with a default, at the end."""
    schema = load_schema("mutation_data")
    extra = {"name": "trace_id", "type": ["null", "string"], "default": None}
    return {**schema, "fields": [*schema["fields"], extra]}


def without_entity_type() -> dict[str, Any]:
    """Incompatible: a field without a default is gone (new readers can't read old records)."""
    schema = load_schema("mutation_data")
    return {**schema, "fields": [f for f in schema["fields"] if f["name"] != "entity_type"]}


def test_register_puts_the_schema_under_every_mutation_subject_with_full_transitive(
    invoke: Invoke, config: Path, prefix: str, schema_registry_url: str
) -> None:
    first = invoke("schemas", "register", "--config", config, "--output", "json")
    again = invoke("schemas", "register", "--config", config, "--output", "json")

    assert first.exit_code == 0, first.output
    assert again.exit_code == 0, again.output
    rows = json_lines(first.stdout)
    assert [row["subject"] for row in rows] == subjects(prefix)
    client = SchemaRegistryClient({"url": schema_registry_url, "timeout": 10})
    for row in rows:
        assert list(row) == [
            "subject",
            "schema_id",
            "version",
            "compatibility",
            "previous_compatibility",
        ]
        latest = client.get_latest_version(row["subject"])
        assert (row["schema_id"], row["version"]) == (latest.schema_id, latest.version)
        assert row["compatibility"] == "FULL_TRANSITIVE"
        assert client.get_compatibility(row["subject"]) == "FULL_TRANSITIVE"
        assert json.loads(latest.schema.schema_str or "") == load_schema("mutation_data")
    # Idempotent: the same ids and versions, and the rule it found is the one it set.
    second = json_lines(again.stdout)
    assert [(r["schema_id"], r["version"]) for r in second] == [
        (r["schema_id"], r["version"]) for r in rows
    ]
    assert {r["previous_compatibility"] for r in second} == {"FULL_TRANSITIVE"}


def test_check_accepts_a_compatible_candidate_and_refuses_an_incompatible_one_with_the_reason(
    invoke: Invoke, config: Path, tmp_path: Path
) -> None:
    assert invoke("schemas", "register", "--config", config).exit_code == 0
    good = candidate(tmp_path, with_optional_field(), "good.avsc")
    bad = candidate(tmp_path, without_entity_type(), "bad.avsc")

    accepted = invoke("schemas", "check", good, "--config", config, "--output", "json")
    refused = invoke("schemas", "check", bad, "--config", config)

    assert accepted.exit_code == 0, accepted.output
    assert {row["compatible"] for row in json_lines(accepted.stdout)} == {True}
    assert refused.exit_code == 1
    assert "entity_type" in refused.stderr  # the registry's own reason
    assert refused.stderr.count("incompatible: ") == 2
    assert "Traceback" not in refused.output


def test_check_applies_the_transitive_rule_to_every_version_not_only_the_latest(
    invoke: Invoke, config: Path, prefix: str, schema_registry_url: str, tmp_path: Path
) -> None:
    # v1 has `sku` without a default, v2 gives it one; a candidate without `sku` is fully
    # compatible with v2 (readers of either fill or ignore it) but not with v1: a v1 reader
    # cannot read the candidate's records. FULL_TRANSITIVE must refuse it, as `register` does.
    def record(*fields: dict[str, Any]) -> str:
        return json.dumps({"type": "record", "name": "Item", "fields": list(fields)})

    sku = {"name": "sku", "type": "string"}
    client = SchemaRegistryClient({"url": schema_registry_url, "timeout": 10})
    for subject in subjects(prefix):
        client.set_compatibility(subject, "FULL_TRANSITIVE")
        client.register_schema(subject, Schema(record(sku), "AVRO"))
        client.register_schema(subject, Schema(record({**sku, "default": "none"}), "AVRO"))
    breaks_v1 = {
        "type": "record",
        "name": "Item",
        "fields": [{"name": "note", "type": ["null", "string"], "default": None}],
    }
    # Against the latest version alone the candidate passes: only v1 refuses it.
    latest_only = client.test_compatibility(
        subjects(prefix)[0], Schema(json.dumps(breaks_v1), "AVRO"), "latest"
    )
    assert latest_only is True

    result = invoke(
        "schemas", "check", candidate(tmp_path, breaks_v1, "breaks_v1.avsc"), "--config", config
    )

    assert result.exit_code == 1, result.output
    assert result.stderr.count("incompatible: ") == 2
    assert "sku" in result.stderr  # the registry's reason names the field v1 needs
    with pytest.raises(SchemaRegistryError, match="409"):  # and register agrees
        client.register_schema(subjects(prefix)[0], Schema(json.dumps(breaks_v1), "AVRO"))


def test_register_is_refused_when_the_subject_holds_an_incompatible_schema(
    invoke: Invoke, config: Path, prefix: str, schema_registry_url: str
) -> None:
    client = SchemaRegistryClient({"url": schema_registry_url, "timeout": 10})
    client.register_schema(subjects(prefix)[1], Schema('"string"', "AVRO"))

    result = invoke("schemas", "register", "--config", config)

    assert result.exit_code == 1, result.output
    assert "HTTP 409" in result.stderr
    assert subjects(prefix)[1] in result.stderr
    assert "Traceback" not in result.output
    assert client.get_latest_version(subjects(prefix)[1]).schema.schema_str == '"string"'


def test_a_candidate_that_is_not_avro_or_a_config_without_registry_exits_2(
    invoke: Invoke, config: Path, tmp_path: Path, write_config: WriteConfig, driver_type: str
) -> None:
    not_avro = tmp_path / "broken.avsc"
    not_avro.write_text('{"type": "record", "name": "X", "fields": [{"name": "a"}]}')
    no_registry = write_config(
        f"""
        kafka:
          bootstrap_servers: 127.0.0.1:9
        integrations:
          - uuid: 3f1b2c9e-5d7a-4e4b-9c1d-2a6f8e0b7c41
            name: Shop
            driver: {driver_type}
        """
    )

    invalid = invoke("schemas", "check", not_avro, "--config", config)
    missing = invoke("schemas", "register", "--config", no_registry)

    assert invalid.exit_code == 2
    assert "not a valid Avro schema" in invalid.stderr
    assert missing.exit_code == 2
    assert "schema_registry" in missing.stderr


@pytest.mark.parametrize("command", ["register", "check"])
def test_an_unreachable_registry_exits_1_with_one_line(
    command: str, invoke: Invoke, write_config: WriteConfig, driver_type: str, prefix: str
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = _config(write_config, driver_type, prefix, f"http://127.0.0.1:{port}")
    args = [str(_current_schema_file(config))] if command == "check" else []

    result = invoke("schemas", command, *args, "--config", config)

    assert result.exit_code == 1, result.output  # environment, as for every command
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["register", "check"])
def test_credentials_the_registry_refuses_exit_2_naming_the_settings(
    command: str, invoke: Invoke, write_config: WriteConfig, driver_type: str, prefix: str
) -> None:
    # A registry with basic auth answers 401 and an error body (Confluent's REST contract);
    # Apicurio here runs without authentication, so a minimal server gives that answer.
    class Refusing(http.server.BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            body = b'{"error_code": 401, "message": "Unauthorized"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._refuse()

        def do_POST(self) -> None:
            self._refuse()

        def do_PUT(self) -> None:
            self._refuse()

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        config = _config(
            write_config, driver_type, prefix, f"http://127.0.0.1:{server.server_port}"
        )
        args = [str(_current_schema_file(config))] if command == "check" else []
        result = invoke("schemas", command, *args, "--config", config)
        server.shutdown()

    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert "HTTP 401" in line
    assert "schema_registry.basic_auth_user" in line


def _current_schema_file(config: Path) -> Path:
    path = config.with_name("current.avsc")
    path.write_text(schema_text("mutation_data"), encoding="utf-8")
    return path


def test_tables_fit_80_columns_keeping_subjects_whole_and_wrapping_only_when_they_cannot(
    invoke: Invoke,
    write_config: WriteConfig,
    driver_type: str,
    schema_registry_url: str,
    config: Path,
    prefix: str,
) -> None:
    short = f"t{uuid.uuid4().hex[:8]}"  # a realistic prefix: `iec.mutations.product-value`
    short_config = _config(write_config, driver_type, short, schema_registry_url)

    fits = invoke("schemas", "register", "--config", short_config, env={"COLUMNS": "80"})
    too_long = invoke("schemas", "register", "--config", config, env={"COLUMNS": "80"})

    for result in (fits, too_long):
        assert result.exit_code == 0, result.output
        assert max(len(line) for line in result.stdout.splitlines()) <= 80
    for subject in subjects(short):
        assert any(subject in line for line in fits.stdout.splitlines()), subject
    assert "compatibility" in fits.stdout
    # 98-character subjects wrap in their column: nothing is cut off
    first_column = "".join(
        line.split("│")[1].strip() for line in too_long.stdout.splitlines() if line.count("│") > 2
    )
    assert first_column == "".join(subjects(prefix))
