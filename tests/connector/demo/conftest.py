"""Demo fixtures: a CLI runner for `iec-connector demo`."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from connector.cli import app

RunDemo = Callable[..., Result]


@pytest.fixture
def run_demo() -> RunDemo:
    """`run_demo("--products", "20", ...)` → the CLI result (output captured, wide console)."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        # A wide console keeps every summary row on one line.
        return runner.invoke(app, ["demo", *args], env={"COLUMNS": "200"})

    return invoke
