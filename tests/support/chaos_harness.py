"""The fault suite's parts: connector processes, a broker of its own, and exact accounting.

Accounting after a scenario, from what the recording driver wrote (one JSON line per handled
batch, with the pid), the dead-letter topic and the group's committed offsets:

- produced = handled + dead-lettered: every published (entity, version) was handled or
  dead-lettered, matched by identity (a dead letter counts for the record it holds, never
  for another that was lost), nothing else was handled, and nothing both (at-least-once: a
  redelivery after a crash or a rebalance is counted once, and reported as `redelivered`);
- committed = end offsets on every partition once the last member stopped;
- per-entity order: an entity's versions were handled one after the other (a redelivery may
  start again from an older one, never skip one), and the last version handled of every
  entity is its newest.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from connector_env import ConnectorEnv
from connector_member import wait_for
from recording_driver import read_batches

from connector import local_kafka
from connector.codec import CodecError, MutationCodec
from contracts import MutationData

SUPPORT = Path(__file__).resolve().parent


def handled_items(output: Path) -> list[tuple[str, int, int]]:
    """(entity uuid, version, pid) of every handled mutation, in handling order."""
    return [
        (str(item[0]), int(item[2]), int(batch["pid"]))
        for batch in read_batches(str(output))
        for item in batch["batch"]
    ]


@dataclass(frozen=True)
class Accounting:
    """What one scenario produced and what became of it."""

    scenario: str
    produced: int
    handled: int
    dead_lettered: int
    redelivered: int
    missing: int
    unexpected: int
    committed_equals_end: bool
    order_violations: int
    stale_finals: int

    @property
    def exact(self) -> bool:
        return (
            self.produced == self.handled + self.dead_lettered
            and self.missing == 0
            and self.unexpected == 0
            and self.committed_equals_end
            and self.order_violations == 0
            and self.stale_finals == 0
        )

    def report(self) -> str:
        verdict = "EXACT" if self.exact else "BROKEN"
        return (
            f"[chaos] {self.scenario}: produced={self.produced} handled={self.handled} "
            f"dead-lettered={self.dead_lettered} (redelivered {self.redelivered}) "
            f"missing={self.missing} unexpected={self.unexpected} "
            f"committed=end:{'yes' if self.committed_equals_end else 'NO'} "
            f"order-violations={self.order_violations} stale-finals={self.stale_finals} "
            f"-> {verdict}"
        )


def caught_up(env: ConnectorEnv, topic: str, partitions: int) -> Callable[[], bool]:
    """The group has committed every partition up to its end (nothing left to redeliver)."""

    def check() -> bool:
        ends = {p: end for p, end in env.end_offsets(topic, partitions).items() if end}
        committed = env.committed(topic, partitions)
        return {p: committed.get(p) for p in ends} == ends

    return check


def dead_lettered_items(env: ConnectorEnv) -> list[tuple[str, int]]:
    """(entity uuid, version) of every dead letter of the integration (its original value
    decoded; one that does not decode counts with version -1, matching nothing published)."""
    topic = env.topics.dead_letter_topic(env.integration_uuid)
    if env.topic_records(topic) == 0:
        return []
    codec = MutationCodec(topics=env.topics)
    items = []
    for message in env.read(topic):
        try:
            mutation = codec.decode(message.value())
        except CodecError:
            key = message.key()
            items.append((key.decode("utf-8", "replace") if key else "?", -1))
            continue
        items.append((mutation.entity_uuid, mutation.version or 0))
    return items


def tally(
    scenario: str,
    published: Sequence[MutationData],
    handled: Sequence[tuple[str, int, int]],
    dead_letters: Sequence[tuple[str, int]],
    *,
    committed_equals_end: bool,
) -> Accounting:
    """The accounting of the module docstring from what was published, handled (in handling
    order) and dead-lettered. Pure. A published record counts as accounted for only if it
    was handled or dead-lettered *itself*: an unrelated dead letter never offsets a loss."""
    expected = {(m.entity_uuid, m.version or 0) for m in published}
    seen = {(uuid, version) for uuid, version, _ in handled}
    dead = set(dead_letters)
    order_violations = 0
    last: dict[str, int] = {}
    final: dict[str, int] = {}
    for uuid, version, _pid in handled:
        # In order: the next version, or a redelivery starting again from an older one; a
        # step over a version, or a first version other than 1, is out of order.
        previous = last.get(uuid, 0)
        if version > previous + 1:
            order_violations += 1
        last[uuid] = version
        final[uuid] = version
    newest: dict[str, int] = {}
    for uuid, version in expected:
        newest[uuid] = max(version, newest.get(uuid, 0))
    stale = sum(1 for uuid, version in final.items() if version != newest.get(uuid))
    return Accounting(
        scenario=scenario,
        produced=len(expected),
        handled=len(seen & expected),
        dead_lettered=len(dead & expected),
        redelivered=len(handled) - len(seen) + len(dead_letters) - len(dead),
        missing=len(expected - seen - dead),
        # handled or dead-lettered but never published, or both handled and dead-lettered
        unexpected=len((seen | dead) - expected) + len(seen & dead & expected),
        committed_equals_end=committed_equals_end,
        order_violations=order_violations,
        stale_finals=stale,
    )


def account(
    scenario: str,
    env: ConnectorEnv,
    published: Sequence[MutationData],
    topic: str,
    partitions: int,
    *,
    bootstrap: str | None = None,
) -> Accounting:
    """The accounting of the module docstring (after every member has stopped)."""
    ends = {p: end for p, end in env.end_offsets(topic, partitions).items() if end}
    committed = env.committed(topic, partitions)
    return tally(
        scenario,
        published,
        handled_items(env.output),
        dead_lettered_items(env),
        committed_equals_end={p: committed.get(p) for p in ends} == ends,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OwnBroker:
    """A broker of the scenario's own (PLAINTEXT only, other ports, its own data), which it
    may kill -9 and start again on the same data."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port, self.controller_port = free_port(), free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"

    def start(self) -> None:
        local_kafka.ensure_running(
            self.port,
            sasl_port=None,
            ssl_port=None,
            mtls_port=None,
            authorizer=False,
            controller_port=self.controller_port,
            directory=self.folder,
            timeout=180,
        )

    def kill9(self) -> None:
        """SIGKILL the broker's JVM: no controlled shutdown, no flushed logs."""
        broker = local_kafka.running_broker(self.folder)
        assert broker is not None, "the scenario's broker is not running"
        os.kill(broker.pid, signal.SIGKILL)
        wait_for(lambda: local_kafka.running_broker(self.folder) is None, "the broker to die")

    def stop(self) -> None:
        local_kafka.stop(self.folder, grace=10)
