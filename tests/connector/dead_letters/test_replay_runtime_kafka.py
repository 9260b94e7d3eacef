"""Replay end to end: two integrations on one topic, the real runtime and the real broker.

Integration A rejects two mutations, integration B handles everything. After A is fixed,
`dead-letters replay` for A brings back only what A missed and nothing B would see again;
a dead letter whose entity A has since handled with a newer mutation stays skipped.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from connector_env import ConnectorEnv, headers_of, product_mutations, run_until
from recording_driver import RecordingDriver, read_batches
from typer.testing import CliRunner

from connector.cli.dead_letters_cmd import app as dead_letters_cli
from connector.config import load_and_validate
from connector.dead_letters import Reason, ReplayFilter, ReplayTargets, replay
from connector.dead_letters.headers import Header, header_value
from connector.driver_registry import DriverRegistry
from connector.runtime.app import EXIT_OK, ConnectorApp

pytestmark = pytest.mark.kafka

REGISTRY = DriverRegistry.from_classes({"recording": RecordingDriver})
RETRY: dict[str, Any] = {"max_attempts": 3, "initial_backoff_ms": 20, "max_backoff_ms": 200}
X = "product-00001"
"""A rejects its only mutation; fixed, A must get it exactly once through the replay."""
Y = "product-00002"
"""A rejects its first mutation and handles the second: replaying the first is superseded."""

Item = tuple[str, str, int]


def items(path: Path) -> list[Item]:
    """(uuid, operation, version) of every mutation in a driver's output or calls file."""
    return [(u, op, v) for batch in read_batches(str(path)) for u, op, v in batch["batch"]]


def entity(path: Path, uuid_: str) -> list[Item]:
    return [item for item in items(path) if item[0] == uuid_]


async def run(config: Path, done: Any) -> None:
    settings, configs = load_and_validate(config, REGISTRY)
    app = ConnectorApp(settings, REGISTRY, configs, install_signal_handlers=False)
    assert await run_until(app, done) == EXIT_OK


async def test_a_fixed_record_is_replayed_once_to_the_failed_integration_only(
    connector_env: ConnectorEnv,
) -> None:
    env = connector_env
    env.create_mutation_topics(["product"], partitions=1)
    topic = env.topics.mutation_topic("product")
    mutations = [m for m in product_mutations(5, 2) if (m.entity_uuid, m.version) != (X, 2)]
    env.publish(mutations)
    a, b = env.integration_uuid, str(uuid.uuid4())
    a_calls, b_out, b_calls = (
        env.tmp / "a-calls.jsonl",
        env.tmp / "b.jsonl",
        env.tmp / "b-calls.jsonl",
    )
    a_dlq, b_dlq = env.topics.dead_letter_topic(a), env.topics.dead_letter_topic(b)
    b_entry = env.integration_entry(
        integration_uuid=b,
        name="integration-b",
        driver_config={"output_path": str(b_out), "calls_path": str(b_calls)},
        retry=RETRY,
    )

    def configure(name: str, **a_knobs: Any) -> Path:
        a_config = {"output_path": str(env.output), "calls_path": str(a_calls), **a_knobs}
        return env.config(
            driver_config=a_config, retry=RETRY, name=name, extra_integrations=[b_entry]
        )

    # 1. A rejects X and Y v1; B handles everything
    broken = configure("broken.yaml", poison_uuids=[X], poison_versions=[f"{Y}@1"])
    await run(
        broken,
        lambda: (
            len(items(env.output)) + env.topic_records(a_dlq) >= len(mutations)
            and len(items(b_out)) >= len(mutations)
        ),
    )
    assert len(items(env.output)) == len(mutations) - 2
    assert {header_value(headers_of(m), Header.ENTITY_UUID) for m in env.read(a_dlq)} == {X, Y}
    expected_b = [(m.entity_uuid, m.operation.value, m.version) for m in mutations]
    assert sorted(items(b_out)) == sorted(expected_b)
    for m in mutations:  # in order per entity (entities run concurrently)
        assert entity(b_out, m.entity_uuid) == [i for i in expected_b if i[0] == m.entity_uuid]
    assert env.topic_records(b_dlq) == 0
    ends = env.end_offsets(topic, 1)
    assert env.committed(topic, 1, a) == ends
    assert env.committed(topic, 1, b) == ends

    # 2. replay for A: X goes to A's retry topic, Y v1 is superseded by Y v2
    config = {"bootstrap.servers": env.bootstrap}
    targets = ReplayTargets.of(a, env.topics)
    report = replay(config, targets, ReplayFilter(a))
    decisions = {d.dead_letter.entity_uuid: d for d in report.decisions}
    assert decisions[X].reason is Reason.REPLAY
    assert decisions[Y].reason is Reason.SUPERSEDED
    y2 = next(i for i, m in enumerate(mutations) if (m.entity_uuid, m.version) == (Y, 2))
    assert decisions[Y].detail == f"{topic}/0/{y2} has the same key"
    assert list(report.published) == [decisions[X].dead_letter.ref]
    assert report.failed == {}

    # 3. A fixed: X reaches A's driver exactly once; B never sees it again
    calls_before = len(entity(a_calls, X))
    b_calls_before = len(items(b_calls))
    fixed = configure("fixed.yaml")
    await run(fixed, lambda: entity(env.output, X) != [])
    assert entity(env.output, X) == [(X, "created", 1)]
    assert len(entity(a_calls, X)) == calls_before + 1
    assert entity(env.output, Y) == [(Y, "updated", 2)]  # Y v1 never came back
    assert entity(b_out, X) == [(X, "created", 1)]
    assert len(items(b_calls)) == b_calls_before  # B got nothing in the second run
    assert env.committed(targets.retry_topic, 1, a) == env.end_offsets(targets.retry_topic, 1)
    assert env.committed(topic, 1, a) == ends
    assert env.topic_records(a_dlq) == 2  # nothing failed again

    # 4. replaying again is detected: nothing is republished
    cli_args = [
        "replay",
        "--integration", a,
        "--bootstrap-servers", env.bootstrap,
        "--dead-letter-prefix", env.topics.dead_letter_prefix,
        "--retry-prefix", env.topics.retry_prefix,
        "--group-prefix", env.topics.group_prefix,
    ]  # fmt: skip
    again = CliRunner(env={"COLUMNS": "250"}).invoke(dead_letters_cli, cli_args)
    assert again.exit_code == 0, again.output
    assert (
        "replayed 0, skipped 1 (already replayed), "
        "skipped 1 (superseded by a newer handled mutation)" in again.output
    )
    assert env.topic_records(targets.retry_topic) == 1
    assert Counter(i[0] for i in items(env.output))[X] == 1
