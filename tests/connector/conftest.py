"""Fixtures shared by the connector tests that run the runtime against the real broker."""

from __future__ import annotations

import os
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from connector_env import ConnectorEnv, make_env


@pytest.fixture
def connector_env(
    kafka_bootstrap: str, tmp_path: Path, create_topics: Callable[..., list[str]]
) -> ConnectorEnv:
    """Unique topics, a config writer and a publisher for one test."""
    return make_env(kafka_bootstrap, tmp_path, create_topics)


InstallDistribution = Callable[..., str]
"""`install(entry_points, module_source, group="iec.drivers")` -> distribution name."""
WriteConfig = Callable[[str], Path]
"""`write_config(yaml_text)` -> path of a file holding the dedented text."""


@pytest.fixture
def install_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InstallDistribution]:
    """Put distributions (dist-info + one module each) on sys.path, as `pip install` would.

    `entry_points` map entry-point names to attributes of `module_source` (``{"alpha":
    "Alpha"}``); the module is named ``fake_iec_drivers_<token>``. Unloaded afterwards.
    """
    modules: list[str] = []
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(
        entry_points: Mapping[str, str], module_source: str, group: str = "iec.drivers"
    ) -> str:
        token = uuid.uuid4().hex[:8]
        module = f"fake_iec_drivers_{token}"
        dist_name = f"fake-iec-drivers-{token}"
        (site / f"{module}.py").write_text(textwrap.dedent(module_source), encoding="utf-8")
        info = site / f"{module}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 1.0\n", encoding="utf-8"
        )
        lines = [f"{name} = {module}:{target}" for name, target in entry_points.items()]
        (info / "entry_points.txt").write_text(
            f"[{group}]\n" + "\n".join(lines) + "\n", encoding="utf-8"
        )
        modules.append(module)
        return dist_name

    yield install
    for module in modules:
        sys.modules.pop(module, None)


@pytest.fixture
def no_ambient_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test sees only the IEC_* variables it sets itself."""
    for name in list(os.environ):
        if name.upper().startswith("IEC_"):
            monkeypatch.delenv(name)


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """`write_config(yaml_text)` -> path of a new file holding the dedented text."""
    counter = iter(range(1_000_000))

    def write(text: str) -> Path:
        path = tmp_path / f"config-{next(counter)}.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def topic_prefix(unique_topic: Callable[[str], str], admin: AdminClient) -> Iterator[str]:
    """A topic-name prefix of this test alone; every topic under it is deleted afterwards."""
    prefix = unique_topic("prefix")
    yield prefix
    doomed = [name for name in admin.list_topics(timeout=10).topics if name.startswith(prefix)]
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=30).values():
            future.result(timeout=30)
