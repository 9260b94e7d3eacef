"""`iec-connector setup` makes the sql driver's tables for a run without DDL rights."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sql_replica import drop_tables
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from connector.cli import app
from contracts import EntityTypes
from contracts.testing import DriverHarness
from drivers.sql import SqlDriver

TYPES = EntityTypes.standard()


def test_setup_creates_the_tables_that_a_run_without_create_tables_needs(
    postgres_url: str, table_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = make_url(postgres_url)
    bare = parsed._replace(password=None).render_as_string(hide_password=False)
    monkeypatch.setenv("TEST_SETUP_PASSWORD", str(parsed.password))
    config = tmp_path / "connector.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            kafka:
              bootstrap_servers: 127.0.0.1:9
            integrations:
              - uuid: 6a1e3a52-8d55-4e0f-9f53-2f3f8f1a7d10
                name: replica
                driver: sql
                config:
                  url: {bare}
                  password: ${{TEST_SETUP_PASSWORD}}
                  table_prefix: {table_prefix}
                  create_tables: false
            """
        )
    )
    run_config = {"url": postgres_url, "table_prefix": table_prefix, "create_tables": False}
    try:
        result = CliRunner().invoke(app, ["setup", "--config", str(config)])

        assert result.exit_code == 0, result.output
        assert "replica: set up (sql)" in result.output
        assert str(parsed.password) not in result.output
        with DriverHarness(SqlDriver(), config=run_config) as harness:  # checks, creates nothing
            harness.handle_batch([])
        again = CliRunner().invoke(app, ["setup", "--config", str(config)])  # idempotent
        assert again.exit_code == 0, again.output
    finally:
        drop_tables(postgres_url, table_prefix, TYPES)


def test_setup_reports_a_failure_without_the_password(
    postgres_url: str, table_prefix: str, tmp_path: Path
) -> None:
    wrong = make_url(postgres_url)._replace(password="not-the-password-4711")
    config = tmp_path / "connector.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            kafka:
              bootstrap_servers: 127.0.0.1:9
            integrations:
              - uuid: 6a1e3a52-8d55-4e0f-9f53-2f3f8f1a7d11
                name: replica
                driver: sql
                config:
                  url: {wrong.render_as_string(hide_password=False)}
                  table_prefix: {table_prefix}
            """
        )
    )
    result = CliRunner().invoke(app, ["setup", "--config", str(config)])
    assert result.exit_code == 1
    assert "28P01" in result.output
    assert "not-the-password-4711" not in result.output
