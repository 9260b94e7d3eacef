"""The ACLs each principal needs: what the README's Security table says is what the code
grants (and the ACL test proves), and `topics acls` prints it for a configuration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from connector.acls import Grant, Role, grants, kafka_acls_command
from connector.cli import app
from connector.config.loading import settings_from_mapping
from connector.driver_registry import DriverRegistry
from connector.topic_admin import plan_topics
from drivers.example import ExampleDriver

README = Path(__file__).resolve().parents[2] / "README.md"
UUID = "6f1d1c2e-61c4-4b0e-9d55-5a3c2f0e8a10"
PREFIXES = {
    "mutation_prefix": "MUT",
    "mapping_prefix": "MAP",
    "dead_letter_prefix": "DLQ",
    "retry_prefix": "RETRY",
    "group_prefix": "GROUP",
}
DATA = {
    "topics": PREFIXES,
    "integrations": [
        {
            "uuid": UUID,
            "name": "shop",
            "driver": "example",
            "entity_types": ["product"],
            "config": {"base_url": "https://shop.test", "api_key": "k-12345678"},
        }
    ],
}
REGISTRY = DriverRegistry.from_classes({"example": ExampleDriver})


def _template(name: str) -> str:
    """A concrete name in the README's notation (`<mapping_prefix>.<uuid>` ...)."""
    for field, value in PREFIXES.items():
        if name.startswith(value + "."):
            name = f"<{field}>" + name[len(value) :]
    return name.replace(UUID, "<uuid>").replace(".product", ".<entity type>")


def _code_rows(role: Role) -> set[tuple[str, str, str]]:
    settings = settings_from_mapping(DATA)
    found = grants(role, settings, plan_topics(settings, REGISTRY))
    return {(g.resource, _template(g.name), g.operation) for g in found}


def _readme_rows(principal: str) -> set[tuple[str, str, str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Kafka principals and their ACLs") :]
    rows = set()
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] != principal:
            continue
        named = re.search(r"`([^`]+)`", cells[2])
        name = named.group(1) if named else cells[2]
        for operation in cells[3].split(","):
            rows.add((cells[1], name, operation.strip()))
    return rows


@pytest.mark.parametrize("role", [Role.RUNTIME, Role.OPERATOR])
def test_the_readme_table_lists_exactly_what_the_code_grants(role: Role) -> None:
    assert _readme_rows(role.value) == _code_rows(role)


def test_the_topics_job_creates_and_checks_every_topic_of_the_plan_and_nothing_else() -> None:
    settings = settings_from_mapping(DATA)
    plan = plan_topics(settings, REGISTRY)
    found = grants(Role.TOPICS_JOB, settings, plan)
    assert {(g.name, g.operation) for g in found} == {
        (name, operation)
        for name in plan.names()
        for operation in ("Create", "DescribeConfigs", "Describe")
    }
    assert {o for _, _, o in _readme_rows("topics-job")} == {
        "Create",
        "DescribeConfigs",
        "Describe",
    }


def test_only_the_topics_job_may_create_anything() -> None:
    settings = settings_from_mapping(DATA)
    plan = plan_topics(settings, REGISTRY)
    for role in (Role.RUNTIME, Role.OPERATOR):
        assert not {g.operation for g in grants(role, settings, plan)} & {
            "Create",
            "Delete",
            "Alter",
        }


def test_topics_acls_prints_the_kafka_acls_commands(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(DATA), encoding="utf-8")
    settings = settings_from_mapping(DATA)
    plan = plan_topics(settings, REGISTRY)

    result = CliRunner().invoke(
        app, ["topics", "acls", "--config", str(path), "--principal", "User:rt"]
    )

    assert result.exit_code == 0, result.output
    expected = kafka_acls_command("User:rt", grants(Role.RUNTIME, settings, plan))
    assert result.stdout.splitlines() == expected
    assert f"--operation Read --operation Write --operation DescribeConfigs --topic MAP.{UUID}" in (
        result.stdout
    )
    assert "Create" not in result.stdout


def test_kafka_acls_command_groups_operations_per_resource() -> None:
    lines = kafka_acls_command(
        "User:x",
        [
            Grant("topic", "t", "Read", ""),
            Grant("group", "g", "Read", ""),
            Grant("topic", "t", "Write", ""),
        ],
    )
    assert [line.split("--add ")[1] for line in lines] == [
        "--allow-principal User:x --operation Read --operation Write --topic t",
        "--allow-principal User:x --operation Read --group g",
    ]
