"""The sql and webhook drivers are listed by the CLI with their whole configuration schema."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from connector.cli import app
from drivers.sql import SqlConfig
from drivers.webhook import WebhookConfig


def test_drivers_list_shows_both() -> None:
    result = CliRunner().invoke(app, ["drivers", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "SQL replica" in result.output
    assert "Webhook (Standard Webhooks)" in result.output


@pytest.mark.parametrize(("driver", "model"), [("sql", SqlConfig), ("webhook", WebhookConfig)])
def test_drivers_show_prints_every_setting_with_a_description(
    driver: str, model: type[SqlConfig | WebhookConfig]
) -> None:
    result = CliRunner().invoke(app, ["drivers", "show", driver, "--output", "json"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)["config_schema"]
    assert set(schema["properties"]) == set(model.model_fields)
    assert all(p.get("description") for p in schema["properties"].values())
