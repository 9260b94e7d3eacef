"""A crash between an external create and the offset commit never creates twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from connector_env import ConnectorEnv, product_mutations
from downstream_driver import downstream_calls

pytestmark = pytest.mark.kafka

SUPPORT = Path(__file__).resolve().parents[2] / "support"


def _start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(SUPPORT / "connector_process.py"), str(config)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )


def test_crash_after_external_create_replays_as_an_update_not_a_second_create(
    connector_env: ConnectorEnv, tmp_path: Path
) -> None:
    env = connector_env
    env.create_mutation_topics(["product"], partitions=1)
    mutations = product_mutations(20, 2)  # created, then updated, for 20 products
    env.publish(mutations)
    downstream = tmp_path / "downstream.jsonl"
    victim = "product-00007"

    crashing = env.config(
        driver="downstream",
        driver_config={"downstream_path": str(downstream), "crash_after_create": victim},
        batch={"max_records": 100, "linger_ms": 200},
        name="crash.yaml",
    )
    first = _start(crashing, tmp_path / "first.log")
    assert first.wait(90) == 137, (tmp_path / "first.log").read_text()
    creates_before = Counter(c[1] for c in downstream_calls(str(downstream)) if c[0] == "create")
    assert creates_before[victim] == 1
    # the batch never finished, so nothing of it was committed
    assert env.committed(env.topics.mutation_topic("product"), 1)[0] < 0

    healthy = env.config(driver="downstream", driver_config={"downstream_path": str(downstream)})
    second = _start(healthy, tmp_path / "second.log")
    try:
        deadline = time.monotonic() + 90
        while len([c for c in downstream_calls(str(downstream)) if c[3] == 2]) < 20:
            assert time.monotonic() < deadline, (tmp_path / "second.log").read_text()
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0, (tmp_path / "second.log").read_text()

    calls = downstream_calls(str(downstream))
    creates = Counter(c[1] for c in calls if c[0] == "create")
    assert all(n == 1 for n in creates.values()), creates
    assert len(creates) == 20
    # the replayed v1 of the victim found its mapping and became an update
    assert ["update", victim, f"ext-{victim}", 1] in calls
