"""`iec-connector drivers list|show`."""

from __future__ import annotations

import json
from collections.abc import Callable

from typer.testing import Result

Invoke = Callable[..., Result]
InstallDistribution = Callable[..., str]


def test_list_shows_identity_and_supported_types(invoke: Invoke, driver_type: str) -> None:
    result = invoke("drivers", "list")

    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if driver_type in line)
    for cell in ("CLI test driver", "3.1.4", "product, category", "Installed by the CLI tests"):
        assert cell in row
    header = next(line for line in result.stdout.splitlines() if "supported types" in line)
    assert all(column in header for column in ("type", "name", "version", "description"))


def test_show_prints_the_configuration_json_schema(invoke: Invoke, driver_type: str) -> None:
    result = invoke("drivers", "show", driver_type, "--output", "json")
    table = invoke("drivers", "show", driver_type)

    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    shown = json.loads(line)
    assert list(shown) == ["type", "name", "version", "config_schema"]
    assert (shown["type"], shown["version"]) == (driver_type, "3.1.4")
    schema = shown["config_schema"]
    assert table.exit_code == 0, table.output
    assert "base_url" in table.stdout
    assert "Where the API lives" in table.stdout
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"base_url", "api_key"}
    assert schema["properties"]["base_url"]["format"] == "uri"
    assert set(schema["required"]) == {"base_url", "api_key"}


def test_show_of_an_unknown_type_lists_the_known_ones_and_exits_2(
    invoke: Invoke, driver_type: str
) -> None:
    result = invoke("drivers", "show", "magento-9")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "unknown driver type 'magento-9'; known types: " in result.stderr
    assert driver_type in result.stderr


_BAD_SCHEMA_SOURCE = """
from contracts import AbstractDriver


class BadSchema(AbstractDriver):
    def get_name(self):
        return "Bad schema"

    def get_type(self):
        return "bad-schema-test"

    def get_version(self):
        return "1.0.0"

    def handle(self, mutation):
        return None

    def get_configuration_schema(self):
        return {"base_url": "required|url|dns_lookup"}


class FailingName(BadSchema):
    def get_type(self):
        return "failing-name-test"

    def get_name(self):
        raise RuntimeError("name service down")


class Incomplete:
    def get_name(self):
        return "Incomplete"
"""


def test_list_flags_an_invalid_schema_and_names_a_failing_identity_method(
    invoke: Invoke, install_distribution: InstallDistribution
) -> None:
    install_distribution(
        {"bad-schema": "BadSchema", "failing-name": "FailingName", "incomplete": "Incomplete"},
        _BAD_SCHEMA_SOURCE,
    )
    result = invoke("drivers", "list")

    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "bad-schema-test" in line)
    assert "invalid config schema" in row
    assert "unsupported rule 'dns_lookup'" in result.stderr
    assert "failing-name" in result.stderr
    assert "get_name() raised RuntimeError: name service down" in result.stderr
    assert "lacks get_type, get_version, get_description" in result.stderr
    healthy = [line for line in result.stdout.splitlines() if "example" in line]
    assert all("invalid" not in line for line in healthy)
