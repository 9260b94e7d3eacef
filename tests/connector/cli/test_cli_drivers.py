"""`iec-connector drivers list|show`."""

from __future__ import annotations

import json
from collections.abc import Callable

from typer.testing import Result

Invoke = Callable[..., Result]


def test_list_shows_identity_and_supported_types(invoke: Invoke, driver_type: str) -> None:
    result = invoke("drivers", "list")

    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if driver_type in line)
    for cell in ("CLI test driver", "3.1.4", "product, category", "Installed by the CLI tests"):
        assert cell in row
    header = next(line for line in result.stdout.splitlines() if "supported types" in line)
    assert all(column in header for column in ("type", "name", "version", "description"))


def test_show_prints_the_configuration_json_schema(invoke: Invoke, driver_type: str) -> None:
    result = invoke("drivers", "show", driver_type)

    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
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
