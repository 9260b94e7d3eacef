"""The sql driver in the runtime, through the real broker, into the real PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from connector_env import ConnectorEnv, make_env, product_mutations, run_until
from sql_replica import drop_tables, read_tables
from sqlalchemy.engine import make_url

from connector import local_postgres
from connector.config import load_and_validate
from connector.demo.catalogue import CatalogueShape, sample_catalogue
from connector.driver_registry import DriverRegistry
from connector.metrics import REGISTRY as METRICS_REGISTRY
from connector.runtime.app import EXIT_OK, ConnectorApp
from contracts import MutationData, Operation
from drivers.sql import SqlDriver

pytestmark = pytest.mark.kafka

TYPES = ["family", "attribute", "category", "product"]
DRIVERS = DriverRegistry.from_classes({"sql": SqlDriver})


@pytest.fixture
def env(
    kafka_bootstrap: str, tmp_path: Path, create_topics: Callable[..., list[str]]
) -> ConnectorEnv:
    return make_env(kafka_bootstrap, tmp_path, create_topics)


def final_state(mutations: list[MutationData]) -> dict[str, dict[str, MutationData]]:
    """The last mutation of every entity, by entity type and uuid."""
    state: dict[str, dict[str, MutationData]] = {t: {} for t in TYPES}
    for mutation in mutations:
        state[mutation.entity_type][mutation.entity_uuid] = mutation
    return state


def sql_config(url: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The copy-paste form: the password from the environment, not the file."""
    parsed = make_url(url)
    monkeypatch.setenv("TEST_SQL_PASSWORD", str(parsed.password))
    bare = parsed._replace(password=None).render_as_string(hide_password=False)
    return {"url": bare, "password": "${TEST_SQL_PASSWORD}", "table_prefix": prefix}


def caught_up(url: str, prefix: str, expected: dict[str, dict[str, MutationData]]) -> bool:
    try:
        tables = read_tables(url, prefix, list(expected))
    except Exception:
        return False  # tables not created yet, or the server is restarting
    return all(
        tables[t].get(uuid, {}).get("version") == m.version
        for t, entities in expected.items()
        for uuid, m in entities.items()
    )


async def test_the_replica_equals_the_published_catalogue(
    env: ConnectorEnv, postgres_url: str, table_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shape = CatalogueShape(families=3, attributes=8, categories=10, products=80)
    mutations = list(sample_catalogue(shape, seed=5))
    env.create_mutation_topics(TYPES)
    env.publish(mutations)
    path = env.config(
        driver="sql",
        entity_types=TYPES,
        driver_config=sql_config(postgres_url, table_prefix, monkeypatch),
        batch={"max_records": 40, "linger_ms": 20},
    )
    settings, configs = load_and_validate(path, DRIVERS)
    app = ConnectorApp(settings, DRIVERS, configs, install_signal_handlers=False)
    expected = final_state(mutations)
    try:
        code = await run_until(app, lambda: caught_up(postgres_url, table_prefix, expected))

        assert code == EXIT_OK
        tables = await asyncio.to_thread(read_tables, postgres_url, table_prefix, TYPES)
        for entity_type, entities in expected.items():
            assert set(tables[entity_type]) == set(entities), entity_type
            for uuid, last in entities.items():
                row = tables[entity_type][uuid]
                deleted = last.operation is Operation.DELETED
                assert (row["version"], row["event_id"]) == (last.version, last.event_id)
                assert row["operation"] == last.operation.value
                assert (row["deleted_at"] is not None) == deleted
                if not deleted:
                    assert row["payload"] == dict(last.payload)
                    assert row["changed_fields"] == list(last.changed_fields)
        assert sum(1 for t in tables.values() for r in t.values() if r["deleted_at"]) == 4
        assert env.topic_records(env.topics.dead_letter_topic(env.integration_uuid)) == 0
    finally:
        await asyncio.to_thread(drop_tables, postgres_url, table_prefix, TYPES)


@pytest.fixture
def private_postgres() -> Iterator[local_postgres.Cluster]:
    """A cluster of this test alone, which it may crash and restart."""
    directory = Path(tempfile.mkdtemp(prefix="iec-pg-restart-", dir="/var/tmp"))
    directory.chmod(0o755)  # the server's user must reach its data below it
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        yield local_postgres.ensure_running(port, directory=directory)
    finally:
        local_postgres.stop(directory, mode="immediate")
        shutil.rmtree(directory, ignore_errors=True)


async def test_a_database_crash_and_restart_mid_run_loses_nothing(
    env: ConnectorEnv, private_postgres: local_postgres.Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, prefix = private_postgres.url(), "replica_"
    mutations = product_mutations(400, 4)
    env.create_mutation_topics(["product"])
    env.publish(mutations)
    path = env.config(
        driver="sql",
        entity_types=["product"],
        driver_config=sql_config(url, prefix, monkeypatch) | {"connect_timeout_s": 2},
        batch={"max_records": 20, "linger_ms": 10},
        # enough patience for the outage: ~20 attempts up to 0.5 s apart
        retry={"max_attempts": 40, "initial_backoff_ms": 100, "max_backoff_ms": 500},
        handle_timeout_ms=5_000,
    )
    settings, configs = load_and_validate(path, DRIVERS)
    app = ConnectorApp(settings, DRIVERS, configs, install_signal_handlers=False)
    expected = {"product": final_state(mutations)["product"]}
    rows_at_crash: list[int] = []

    def crash_when_writing_starts() -> None:
        while True:
            try:
                written = len(read_tables(url, prefix, ["product"])["product"])
            except Exception:
                written = 0  # the table is not there yet
            if written:
                rows_at_crash.append(written)
                local_postgres.restart(private_postgres.directory, mode="immediate", pause_s=2)
                return
            time.sleep(0.05)

    crasher = threading.Thread(target=crash_when_writing_starts, daemon=True)
    crasher.start()

    code = await run_until(app, lambda: caught_up(url, prefix, expected), limit_s=90)

    crasher.join(10)
    assert code == EXIT_OK
    assert rows_at_crash
    assert rows_at_crash[0] < 400  # the crash came while the replica was being written
    retries = METRICS_REGISTRY.get_sample_value(
        "iec_connector_retries_total",
        {"integration": env.integration_uuid, "entity_type": "product"},
    )
    assert retries  # the outage was seen and outlasted
    stored = (await asyncio.to_thread(read_tables, url, prefix, ["product"]))["product"]
    assert len(stored) == 400
    assert {row["version"] for row in stored.values()} == {4}
    assert env.topic_records(env.topics.dead_letter_topic(env.integration_uuid)) == 0
