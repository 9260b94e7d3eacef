"""CLI fixtures: a test driver installed as a real distribution, config files, a runner."""

from __future__ import annotations

import os
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from connector.cli import app

Invoke = Callable[..., Result]
WriteConfig = Callable[[str], Path]

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
def _no_ambient_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("IEC_"):
            monkeypatch.delenv(name)


@pytest.fixture
def driver_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Install a distribution registering a test driver in `iec.drivers`; yield its type."""
    token = uuid.uuid4().hex[:8]
    driver_type = f"cli-test-{token}"
    module = f"iec_cli_test_driver_{token}"
    site = tmp_path / "site"
    info = site / f"{module}-1.0.dist-info"
    info.mkdir(parents=True)
    (site / f"{module}.py").write_text(
        f"DRIVER_TYPE = {driver_type!r}\n" + textwrap.dedent(_DRIVER_SOURCE), encoding="utf-8"
    )
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: iec-cli-test-driver-{token}\nVersion: 1.0\n",
        encoding="utf-8",
    )
    (info / "entry_points.txt").write_text(
        f"[iec.drivers]\n{driver_type} = {module}:Driver\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))
    yield driver_type
    sys.modules.pop(module, None)


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    counter = iter(range(1_000_000))

    def write(text: str) -> Path:
        path = tmp_path / f"config-{next(counter)}.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def invoke() -> Invoke:
    """`invoke("config", "validate", path)` runs the root app; wide terminal for tables."""
    runner = CliRunner()

    def run(*args: str | Path, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, [str(arg) for arg in args], env={"COLUMNS": "250", **(env or {})})

    return run
