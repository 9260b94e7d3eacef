"""The fault suite: faults injected into real processes and a real broker, then exact
accounting (harness.py). `make chaos` runs every scenario and prints the accounting; the
short SIGKILL scenario also runs in the default suite (CI)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from chaos_harness import Accounting, ConnectorProcess, OwnBroker, account, handled_items, wait_for
from connector_env import ConnectorEnv, product_mutations

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


@pytest.mark.chaos
def test_broker_kill9_and_restart_mid_run_loses_nothing(
    own_env: ConnectorEnv,
    own_broker: OwnBroker,
    processes: list[ConnectorProcess],
    tmp_path: Path,
    report: Report,
) -> None:
    """1. A member handles from the scenario's own broker. 2. kill -9 the broker mid-run,
    keep it down longer than the session timeout, start it again on the same data.
    3. The member recovers by itself and catches up. 4. Account."""
    env = own_env
    env.create_mutation_topics(["product"], partitions=3)
    published = product_mutations(300, 4)
    env.publish(published)
    config = env.config(driver_config={"output_path": str(env.output), "sleep_ms": 30})
    member = ConnectorProcess(config, tmp_path / "member.log")
    processes.append(member)
    wait_for(lambda: len(handled_items(env.output)) >= len(published) // 4, "a quarter handled")
    own_broker.kill9()
    down_at = member.log.stat().st_size
    time.sleep(10)  # > session.timeout.ms (6 s): the group forgets the member
    assert member.alive(), "the connector must ride out a broker outage"
    own_broker.start()
    wait_for(_all_handled(env, published), "catch-up after the broker came back", timeout=180)
    code, _ = member.terminate()
    assert code == 0, member.output()
    outage_log = member.output().encode()[down_at:].decode(errors="replace")
    print(f"[chaos] broker outage: {len(outage_log.splitlines())} log lines while down")
    accounting = account(
        "broker kill -9 + restart", env, published, env.topics.mutation_topic("product"), 3
    )
    report(accounting)
    assert accounting.exact, accounting.report()


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
    """Batches take 2 s; SIGTERM lands mid-batch: the batch finishes within the shutdown
    grace, is committed, and the restarted member starts after it."""
    env = connector_env
    env.create_mutation_topics(["product"], partitions=2)
    published = product_mutations(60, 2)
    env.publish(published)
    config = env.config(
        driver_config={"output_path": str(env.output), "sleep_ms": 2000},
        batch={"max_records": 20, "linger_ms": 10},
    )
    member = ConnectorProcess(config, tmp_path / "slow.log")
    processes.append(member)
    wait_for(lambda: len(handled_items(env.output)) >= 20, "a first slow batch")
    time.sleep(0.5)  # mid-batch
    code, took = member.terminate(timeout=60)
    assert code == 0, member.output()
    assert took < 10 + 5, f"SIGTERM took {took:.1f}s with a 10 s shutdown grace"
    handled_before = len(handled_items(env.output))
    second = ConnectorProcess(config, tmp_path / "after.log")
    processes.append(second)
    wait_for(_all_handled(env, published), "the rest after the restart")
    code, _ = second.terminate()
    assert code == 0, second.output()
    accounting = account(
        "slow driver + SIGTERM", env, published, env.topics.mutation_topic("product"), 2
    )
    report(accounting)
    assert accounting.exact, accounting.report()
    assert accounting.redelivered == 0, "a batch finished before the stop was handled again"
    assert handled_before < len(published)
