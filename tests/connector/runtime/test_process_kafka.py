"""The connector as a process: crash, restart, scale out, stop, refuse bad configs."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_process import run_cli
from connector_env import ConnectorEnv, product_mutations
from connector_member import ConnectorProcess, wait_for
from recording_driver import read_batches

from connector.local_kafka import SaslEndpoint

pytestmark = pytest.mark.kafka

SUPPORT = Path(__file__).resolve().parents[2] / "support"


@pytest.fixture
def processes() -> Iterator[list[ConnectorProcess]]:
    started: list[ConnectorProcess] = []
    yield started
    for p in started:
        if p.proc.poll() is None:
            p.proc.kill()
            p.wait()


def handled_items(path: Path) -> list[tuple[str, int, int]]:
    """(uuid, version, pid) of every handled mutation."""
    return [
        (item[0], item[2], batch["pid"])
        for batch in read_batches(str(path))
        for item in batch["batch"]
    ]


def test_killed_connector_restarts_and_every_mutation_is_handled_at_least_once(
    connector_env: ConnectorEnv, processes: list[ConnectorProcess], tmp_path: Path
) -> None:
    env = connector_env
    env.create_mutation_topics(["product"], partitions=3)
    mutations = product_mutations(500, 4)
    env.publish(mutations)
    expected = {(m.entity_uuid, m.version) for m in mutations}
    # One batch at a time, so that the kill lands mid-run (the concurrent case has its own test).
    config = env.config(
        driver_config={"output_path": str(env.output), "sleep_ms": 25}, concurrency=1
    )

    first = ConnectorProcess(config, tmp_path / "first.log")
    processes.append(first)
    wait_for(lambda: len(handled_items(env.output)) >= 300, "the first process to handle some")
    first.signal(signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL
    handled_before_crash = len(handled_items(env.output))
    assert handled_before_crash < len(mutations), "killed too late to prove anything"

    second = ConnectorProcess(config, tmp_path / "second.log")
    processes.append(second)
    wait_for(lambda: {(u, v) for u, v, _ in handled_items(env.output)} >= expected, "catch-up")
    second.signal(signal.SIGTERM)
    assert second.wait() == 0, second.output()

    seen = {(u, v) for u, v, _ in handled_items(env.output)}
    assert seen == expected
    topic = env.topics.mutation_topic("product")
    assert env.committed(topic, 3) == env.end_offsets(topic, 3)


def test_two_processes_in_one_group_split_the_partitions_and_handle_everything(
    connector_env: ConnectorEnv, processes: list[ConnectorProcess], tmp_path: Path
) -> None:
    env = connector_env
    env.create_mutation_topics(["product"], partitions=6)
    mutations = product_mutations(600, 3)
    config = env.config(driver_config={"output_path": str(env.output), "sleep_ms": 30})
    a = ConnectorProcess(config, tmp_path / "a.log")
    b = ConnectorProcess(config, tmp_path / "b.log")
    processes += [a, b]
    # Both must own partitions before the data arrives (then both handle records).
    topic = env.topics.mutation_topic("product")
    wait_for(
        lambda: all(f"assigned {topic}[" in p.output() for p in (a, b)),
        "both members to be assigned partitions",
    )
    env.publish(mutations)
    expected = {(m.entity_uuid, m.version) for m in mutations}
    wait_for(
        lambda: {(u, v) for u, v, _ in handled_items(env.output)} >= expected, "both to finish"
    )
    for p in (a, b):
        p.signal(signal.SIGTERM)
    assert a.wait() == 0, a.output()
    assert b.wait() == 0, b.output()

    by_pid: dict[int, set[str]] = {}
    for uuid, _version, pid in handled_items(env.output):
        by_pid.setdefault(pid, set()).add(uuid)
    assert set(by_pid) == {a.proc.pid, b.proc.pid}, "both members must have handled records"
    # The revoke protocol commits what is done before a partition moves, so a rebalance
    # while handling (the second member joining) re-delivers nothing.
    items = [(u, v) for u, v, _ in handled_items(env.output)]
    duplicates = len(items) - len(set(items))
    assert duplicates == 0, f"{duplicates} mutations handled twice"


def test_sigterm_lets_the_in_flight_batch_finish_commits_and_exits_zero(
    connector_env: ConnectorEnv, processes: list[ConnectorProcess], tmp_path: Path
) -> None:
    env = connector_env
    env.create_mutation_topics(["product"], partitions=1)
    env.publish(product_mutations(40, 1))
    # one batch of 40 taking 2 s: SIGTERM arrives while it is in flight
    config = env.config(
        driver_config={"output_path": str(env.output), "sleep_ms": 2000},
        batch={"max_records": 100, "linger_ms": 500},
    )
    proc = ConnectorProcess(config, tmp_path / "run.log")
    processes.append(proc)
    wait_for(lambda: "assigned" in proc.output(), "assignment")
    time.sleep(1.2)  # the batch is in flight now (linger 0.5 s + part of the 2 s)
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.output()
    assert len(handled_items(env.output)) == 40
    topic = env.topics.mutation_topic("product")
    assert env.committed(topic, 1) == {0: 40}


def _run_cli(config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "run", "--config", str(config), env={**os.environ, **(env or {})}, timeout=60, columns=None
    )


def test_bad_config_exits_2_and_names_the_field(connector_env: ConnectorEnv) -> None:
    config = connector_env.config(
        driver="example", driver_config={"base_url": "not a url", "api_key": "k-123"}
    )
    data: dict[str, Any] = yaml.safe_load(config.read_text())
    data["integrations"][0]["batch"]["max_records"] = 0
    config.write_text(yaml.safe_dump(data))
    result = _run_cli(config)
    assert result.returncode == 2, result.stderr
    assert "integrations[0].batch.max_records" in result.stderr
    # once the file is well-formed, the driver's own schema is checked
    data["integrations"][0]["batch"]["max_records"] = 10
    config.write_text(yaml.safe_dump(data))
    result = _run_cli(config)
    assert result.returncode == 2, result.stderr
    assert "integrations[0].config.base_url" in result.stderr
    assert "k-123" not in result.stderr


def test_connector_works_through_sasl_scram_with_credentials_from_the_environment(
    connector_env: ConnectorEnv,
    kafka_sasl: SaslEndpoint,
    processes: list[ConnectorProcess],
    tmp_path: Path,
) -> None:
    env = connector_env
    env.create_mutation_topics(["product"], partitions=1)
    env.publish(product_mutations(30, 1))
    env.bootstrap = kafka_sasl.bootstrap
    config = env.config(
        kafka={
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": kafka_sasl.mechanism,
            "sasl_username": kafka_sasl.username,
            "sasl_password": "${TEST_SASL_PASSWORD}",
        }
    )
    assert kafka_sasl.password not in config.read_text()
    proc = ConnectorProcess(
        config, tmp_path / "sasl.log", env={"TEST_SASL_PASSWORD": kafka_sasl.password}
    )
    processes.append(proc)
    wait_for(lambda: len(handled_items(env.output)) >= 30, "handling over SASL")
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0, proc.output()
    assert kafka_sasl.password not in proc.output()


def test_wrong_sasl_password_stops_the_start_with_a_clear_message_without_the_password(
    connector_env: ConnectorEnv, kafka_sasl: SaslEndpoint
) -> None:
    env = connector_env
    env.bootstrap = kafka_sasl.bootstrap
    wrong = "wrong-Pa55word-4711"
    config = env.config(
        driver="example",
        driver_config={"base_url": "https://shop.example.test", "api_key": "k-123"},
        kafka={
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": kafka_sasl.mechanism,
            "sasl_username": kafka_sasl.username,
            "sasl_password": "${TEST_SASL_PASSWORD}",
        },
    )
    result = _run_cli(config, env={"TEST_SASL_PASSWORD": wrong})
    assert result.returncode == 2, result.stderr
    assert "authentication" in result.stderr.lower()
    assert "kafka.sasl_password" in result.stderr
    assert wrong not in result.stderr + result.stdout


def test_a_member_joining_mid_run_takes_over_partitions_without_redoing_handled_work(
    connector_env: ConnectorEnv, processes: list[ConnectorProcess], tmp_path: Path
) -> None:
    """The revoke protocol commits what the leaving owner finished (and librdkafka's own
    commit of the stored offset must not roll it back): the new owner starts after it."""
    env = connector_env
    env.create_mutation_topics(["product"], partitions=4)
    mutations = product_mutations(400, 3)
    env.publish(mutations)
    config = env.config(
        driver_config={"output_path": str(env.output), "sleep_ms": 120},
        batch={"max_records": 20, "linger_ms": 20},
        concurrency=1,  # ~7 s of work: the second member joins mid-run
    )
    first = ConnectorProcess(config, tmp_path / "first.log")
    processes.append(first)
    wait_for(lambda: len(handled_items(env.output)) >= 200, "the first member to get going")
    second = ConnectorProcess(config, tmp_path / "second.log")
    processes.append(second)
    expected = {(m.entity_uuid, m.version) for m in mutations}
    wait_for(lambda: {(u, v) for u, v, _ in handled_items(env.output)} >= expected, "catch-up")
    for p in (first, second):
        p.signal(signal.SIGTERM)
    assert first.wait() == 0, first.output()
    assert second.wait() == 0, second.output()

    pids = {pid for _u, _v, pid in handled_items(env.output)}
    assert pids == {first.proc.pid, second.proc.pid}, "the second member must have taken over"
    items = [(u, v) for u, v, _ in handled_items(env.output)]
    duplicates = len(items) - len(set(items))
    assert duplicates == 0, f"{duplicates} mutations handled twice after the handover"
