"""Fixtures of the fault suite (`make chaos`; `pytest -m chaos tests/chaos`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chaos_harness import Accounting, OwnBroker
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from connector_env import ConnectorEnv, make_env
from connector_member import ConnectorProcess

_REPORTS: list[Accounting] = []


@pytest.fixture
def processes() -> Iterator[list[ConnectorProcess]]:
    """Connector processes of one scenario; any still running at the end is killed."""
    started: list[ConnectorProcess] = []
    yield started
    for process in started:
        if process.alive():
            process.proc.kill()
            process.wait()


@pytest.fixture
def report() -> Callable[[Accounting], None]:
    """Print a scenario's accounting now and again in the session summary."""

    def add(accounting: Accounting) -> None:
        print(accounting.report())
        _REPORTS.append(accounting)

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _REPORTS:
        terminalreporter.section("chaos accounting")
        for accounting in _REPORTS:
            terminalreporter.write_line(accounting.report())


@pytest.fixture
def connector_env(
    kafka_bootstrap: str, tmp_path: Path, create_topics: Callable[..., list[str]]
) -> ConnectorEnv:
    """Unique topics on the session's broker, a config writer and a publisher."""
    return make_env(kafka_bootstrap, tmp_path, create_topics)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[OwnBroker]:
    broker = OwnBroker(tmp_path / "broker")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def own_env(own_broker: OwnBroker, tmp_path: Path) -> ConnectorEnv:
    """A connector environment on the scenario's own broker."""
    admin = AdminClient({"bootstrap.servers": own_broker.bootstrap, "log_level": 0})

    def create(
        names: list[str], partitions: int = 1, config: dict[str, str] | None = None
    ) -> list[str]:
        topics = [
            NewTopic(n, num_partitions=partitions, replication_factor=1, config=config or {})
            for n in names
        ]
        for future in admin.create_topics(topics, operation_timeout=30).values():
            future.result(timeout=30)
        return names

    return make_env(own_broker.bootstrap, tmp_path, create)
