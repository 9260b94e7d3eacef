"""The fault suite: faults injected into real processes and a real broker, then exact
accounting (harness.py). `make chaos` runs every scenario and prints the accounting; the
short SIGKILL scenario also runs in the default suite (CI)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest
import yaml
from chaos_harness import (
    Accounting,
    OwnBroker,
    account,
    caught_up,
    free_port,
    handled_items,
)
from connector_env import ConnectorEnv, product_mutations
from connector_member import ConnectorProcess, wait_for

from contracts import MutationData

pytestmark = pytest.mark.kafka
Report = Callable[[Accounting], None]


def _all_handled(env: ConnectorEnv, published: Sequence[MutationData]) -> Callable[[], bool]:
    expected = {(m.entity_uuid, m.version) for m in published}
    return lambda: {(u, v) for u, v, _ in handled_items(env.output)} >= expected


def _handled_at_least(env: ConnectorEnv, count: int) -> Callable[[], bool]:
    return lambda: len(handled_items(env.output)) >= count


def _sigkill_and_restart(
    env: ConnectorEnv,
    processes: list[ConnectorProcess],
    tmp_path: Path,
    report: Report,
    *,
    scenario: str,
    entities: int,
    versions: int,
    kills: int,
) -> None:
    """1. Publish. 2. Start a member; SIGKILL it once it has handled a share; start the next;
    `kills` times. 3. The last member catches up and stops with SIGTERM. 4. Account."""
    env.create_mutation_topics(["product"], partitions=3)
    published = product_mutations(entities, versions)
    env.publish(published)
    config = env.config(driver_config={"output_path": str(env.output), "sleep_ms": 20})
    step = len(published) // (kills + 1)
    for n in range(kills):
        member = ConnectorProcess(config, tmp_path / f"member-{n}.log")
        processes.append(member)
        wait_for(_handled_at_least(env, step * (n + 1)), f"member {n} to handle its share")
        member.kill()
    last = ConnectorProcess(config, tmp_path / "last.log")
    processes.append(last)
    wait_for(_all_handled(env, published), "the last member to catch up")
    wait_for(caught_up(env, env.topics.mutation_topic("product"), 3), "the commits")
    code, _ = last.terminate()
    assert code == 0, last.output()
    accounting = account(scenario, env, published, env.topics.mutation_topic("product"), 3)
    report(accounting)
    assert accounting.exact, accounting.report()
    assert accounting.handled == len(published)


def test_short_repeated_sigkill_and_restart_loses_nothing(
    connector_env: ConnectorEnv, processes: list[ConnectorProcess], tmp_path: Path, report: Report
) -> None:
    """The CI scenario: two SIGKILLs, a few hundred records."""
    _sigkill_and_restart(
        connector_env,
        processes,
        tmp_path,
        report,
        scenario="sigkill x2 (short)",
        entities=100,
        versions=3,
        kills=2,
    )


@pytest.mark.chaos
def test_repeated_sigkill_and_restart_loses_nothing(
    connector_env: ConnectorEnv, processes: list[ConnectorProcess], tmp_path: Path, report: Report
) -> None:
    _sigkill_and_restart(
        connector_env,
        processes,
        tmp_path,
        report,
        scenario="sigkill x5",
        entities=400,
        versions=4,
        kills=5,
    )


class HealthWatch:
    """Polls the member's /healthz and /readyz every 0.5 s: what each answered, when."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.samples: list[tuple[float, int, int]] = []  # (time, healthz status, readyz status)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-watch", daemon=True)

    def _status(self, path: str) -> int:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=2).status_code
        except httpx.HTTPError:
            return 0

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.samples.append(
                (time.monotonic(), self._status("/healthz"), self._status("/readyz"))
            )

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def between(self, start: float, end: float) -> list[tuple[float, int, int]]:
        return [s for s in self.samples if start <= s[0] <= end]


@pytest.mark.chaos
def test_broker_kill9_and_restart_mid_run_loses_nothing(
    own_env: ConnectorEnv,
    own_broker: OwnBroker,
    processes: list[ConnectorProcess],
    tmp_path: Path,
    report: Report,
) -> None:
    """1. A member handles from the scenario's own broker. 2. kill -9 the broker mid-run and
    keep it down for 15 s (> the 6 s session timeout), start it again on the same data.
    3. The member recovers by itself and catches up. Meanwhile: liveness stays 200 (no
    restart for an outage), readiness drops once the partitions are lost and comes back,
    and the log tells the outage in a few lines. 4. Account."""
    env = own_env
    env.create_mutation_topics(["product"], partitions=3)
    published = product_mutations(300, 4)
    env.publish(published)
    port = free_port()
    config = env.config(
        driver_config={"output_path": str(env.output), "sleep_ms": 40}, concurrency=1
    )
    data = yaml.safe_load(config.read_text())
    data["metrics"]["port"] = port
    config.write_text(yaml.safe_dump(data))
    member = ConnectorProcess(config, tmp_path / "member.log")
    processes.append(member)
    with HealthWatch(port) as health:
        wait_for(_handled_at_least(env, len(published) // 4), "a quarter handled")
        down_log = member.log.stat().st_size
        killed = time.monotonic()
        own_broker.kill9()
        time.sleep(15)
        restarted = time.monotonic()
        outage_log = member.log.read_bytes()[down_log:].decode(errors="replace")
        assert member.alive(), "the connector must ride out a broker outage"
        own_broker.start()
        wait_for(_all_handled(env, published), "catch-up after the broker came back", timeout=180)
        wait_for(lambda: bool(health.samples) and health.samples[-1][2] == 200, "ready again")
        topic = env.topics.mutation_topic("product")
        wait_for(caught_up(env, topic, 3), "the redelivered tail and its commits", timeout=180)
    code, _ = member.terminate()
    assert code == 0, member.output()
    during = health.between(killed, restarted)
    lines = outage_log.splitlines()
    livez = sorted({h for _, h, _ in during})
    readyz = sorted({r for _, _, r in during})
    print(f"[chaos] broker outage 15 s: {len(lines)} log lines, healthz {livez}, readyz {readyz}")
    assert {h for _, h, _ in during} == {200}, "liveness failed during a broker outage"
    assert any(r == 503 for _, _, r in during), "readiness ignored the lost partitions"
    assert len(lines) <= 40, "\n".join(lines[:60])
    accounting = account(
        "broker kill -9 + restart", env, published, env.topics.mutation_topic("product"), 3
    )
    report(accounting)
    assert accounting.exact, accounting.report()
    assert "reachable again" in member.output()


@pytest.mark.chaos
def test_members_joining_and_leaving_while_records_flow_lose_nothing(
    connector_env: ConnectorEnv, processes: list[ConnectorProcess], tmp_path: Path, report: Report
) -> None:
    """1 -> 3 -> 1 members while a producer keeps publishing; then account."""
    env = connector_env
    env.create_mutation_topics(["product"], partitions=6)
    published = product_mutations(120, 10)
    waves = [published[i : i + 120] for i in range(0, len(published), 120)]
    config = env.config(driver_config={"output_path": str(env.output), "sleep_ms": 20})

    def produce() -> None:
        for wave in waves:
            env.publish(wave)
            time.sleep(1.5)

    producer = threading.Thread(target=produce, name="chaos-producer")
    first = ConnectorProcess(config, tmp_path / "first.log")
    processes.append(first)
    producer.start()
    wait_for(lambda: len(handled_items(env.output)) >= 200, "the first member")
    joiners = [ConnectorProcess(config, tmp_path / f"joiner-{n}.log") for n in range(2)]
    processes += joiners
    wait_for(lambda: len({pid for _, _, pid in handled_items(env.output)}) >= 2, "joiners")
    time.sleep(3)
    for joiner in joiners:
        code, _ = joiner.terminate()
        assert code == 0, joiner.output()
    producer.join(120)
    wait_for(_all_handled(env, published), "the remaining member to catch up")
    wait_for(caught_up(env, env.topics.mutation_topic("product"), 6), "the commits")
    code, _ = first.terminate()
    assert code == 0, first.output()
    accounting = account(
        "members 1 -> 3 -> 1", env, published, env.topics.mutation_topic("product"), 6
    )
    report(accounting)
    assert accounting.exact, accounting.report()


@pytest.mark.chaos
def test_a_slow_driver_during_sigterm_finishes_its_batch_commits_and_exits(
    connector_env: ConnectorEnv, processes: list[ConnectorProcess], tmp_path: Path, report: Report
) -> None:
    """Batches take 2 s, one at a time; SIGTERM lands mid-batch: the batch finishes within
    the shutdown grace (10 s), is committed, and the restarted member starts after it."""
    env = connector_env
    env.create_mutation_topics(["product"], partitions=2)
    published = product_mutations(100, 2)
    env.publish(published)
    config = env.config(
        driver_config={"output_path": str(env.output), "sleep_ms": 2000},
        batch={"max_records": 20, "linger_ms": 10},
        concurrency=1,
    )
    member = ConnectorProcess(config, tmp_path / "slow.log")
    processes.append(member)
    wait_for(_handled_at_least(env, 20), "a first slow batch")
    time.sleep(0.5)  # mid-batch
    code, took = member.terminate(timeout=60)
    assert code == 0, member.output()
    assert took < 10 + 5, f"SIGTERM took {took:.1f}s with a 10 s shutdown grace"
    handled_before = len(handled_items(env.output))
    assert handled_before < len(published), "everything was done before the stop"
    second = ConnectorProcess(config, tmp_path / "after.log")
    processes.append(second)
    wait_for(_all_handled(env, published), "the rest after the restart")
    wait_for(caught_up(env, env.topics.mutation_topic("product"), 2), "the commits")
    code, _ = second.terminate()
    assert code == 0, second.output()
    accounting = account(
        "slow driver + SIGTERM", env, published, env.topics.mutation_topic("product"), 2
    )
    report(accounting)
    assert accounting.exact, accounting.report()
    assert accounting.redelivered == 0, "a batch finished before the stop was handled again"


@pytest.mark.chaos
def test_a_static_member_restarted_after_sigkill_gets_its_partitions_back_at_once(
    connector_env: ConnectorEnv, processes: list[ConnectorProcess], tmp_path: Path, report: Report
) -> None:
    """kafka.group_instance_id (a StatefulSet pod's name): a member killed and started again
    under the same identity rejoins without waiting out the session timeout (30 s here)."""
    env = connector_env
    env.create_mutation_topics(["product"], partitions=3)
    published = product_mutations(200, 3)
    env.publish(published)
    config = env.config(
        driver_config={"output_path": str(env.output), "sleep_ms": 20},
        kafka={
            "group_instance_id": "iec-connector-0",
            "extra": {"session.timeout.ms": "30000", "heartbeat.interval.ms": "1000"},
        },
    )
    first = ConnectorProcess(config, tmp_path / "first.log")
    processes.append(first)
    wait_for(_handled_at_least(env, 150), "the first life")
    first.kill()
    second = ConnectorProcess(config, tmp_path / "second.log")
    processes.append(second)
    wait_for(lambda: "assigned " in second.output(), "the partitions", timeout=60)
    wait_for(second.up, "the runtime")
    took = time.monotonic() - second.started
    print(f"[chaos] static member back with partitions {took:.1f} s after its restart")
    assert took < 20, f"waited {took:.1f}s: the session timeout (30 s), not static membership"
    wait_for(_all_handled(env, published), "catch-up")
    wait_for(caught_up(env, env.topics.mutation_topic("product"), 3), "the commits")
    code, _ = second.terminate()
    assert code == 0, second.output()
    accounting = account(
        "static member SIGKILL + restart", env, published, env.topics.mutation_topic("product"), 3
    )
    report(accounting)
    assert accounting.exact, accounting.report()
