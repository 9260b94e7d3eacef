"""CLI fixtures: a test driver installed as a real distribution, a runner, a clean environment."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from connector.cli import app

Invoke = Callable[..., Result]
InstallDistribution = Callable[..., str]

# The driver an installed third-party distribution would ship (type chosen per test run).
_DRIVER_SOURCE = '''
from pydantic import BaseModel, Field, HttpUrl, SecretStr
from contracts import AbstractDriver


class Config(BaseModel):
    """Settings of the CLI test driver."""

    model_config = {"extra": "forbid"}
    base_url: HttpUrl = Field(description="Where the API lives")
    api_key: SecretStr = Field(min_length=16)


class Driver(AbstractDriver):
    supported_entity_types = ("product", "category")

    def get_name(self):
        return "CLI test driver"

    def get_type(self):
        return DRIVER_TYPE

    def get_version(self):
        return "3.1.4"

    def get_description(self):
        return "Installed by the CLI tests"

    def handle(self, mutation):
        return None

    def get_configuration_schema(self):
        return Config
'''


@pytest.fixture(autouse=True)
def _no_ambient_config_env(no_ambient_config_env: None) -> None:
    """Every CLI test sees only the IEC_* variables it sets itself."""


@pytest.fixture
def driver_type(install_distribution: InstallDistribution) -> str:
    """Install a distribution registering a test driver in `iec.drivers`; its type."""
    driver_type = f"cli-test-{uuid.uuid4().hex[:8]}"
    source = f"DRIVER_TYPE = {driver_type!r}\n" + textwrap.dedent(_DRIVER_SOURCE)
    install_distribution({driver_type: "Driver"}, source)
    return driver_type


@pytest.fixture
def invoke() -> Invoke:
    """`invoke("config", "validate", path)` runs the root app; wide terminal for tables."""
    runner = CliRunner()

    def run(*args: str | Path, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, [str(arg) for arg in args], env={"COLUMNS": "250", **(env or {})})

    return run
