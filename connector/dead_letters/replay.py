"""Replay dead letters to the integration's retry topic: the Kafka side of `dead-letters`.

Thin adapter: it reads the dead-letter topic, the retry topic (earlier replays), the origin
partitions and the integration group's committed offsets, leaves every decision to
`replay_plan`, and publishes what the plan says (acks=all, idempotent). Only the failed
integration's consumer group reads its retry topic, so no other integration sees a replay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, TopicPartition

# ConfigResource and ResourceType: public, but re-exported without `__all__` (strict mypy).
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType

from connector.dead_letters.headers import DeadLetter, Header, header_value
from connector.dead_letters.replay_plan import (
    Decision,
    ReplayFilter,
    SupersedeFacts,
    plan_replay,
    replay_headers,
    retry_topic_problem,
)
from connector.kafka import AckedProducer, ProducerRecord, error_of, new_admin, new_consumer
from connector.topics import TopicSettings
from contracts import ConfigurationError

__all__ = [
    "Progress",
    "ReplayReport",
    "ReplayTargets",
    "check_retry_topic",
    "find_replays",
    "read_dead_letters",
    "read_supersede_facts",
    "replay",
]

_TIMEOUT_S = 30.0
_PUBLISH_CHUNK = 500
_log = logging.getLogger("iec.kafka.replay")
# Partition-end offsets of librdkafka meaning "none committed".
_NO_OFFSET = -1001


class Progress(Protocol):
    """Where the adapter reports progress (the CLI draws a bar on stderr)."""

    def phase(self, description: str, total: int | None) -> None: ...

    def advance(self, n: int = 1) -> None: ...


class _Silent:
    def phase(self, description: str, total: int | None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


@dataclass(frozen=True, slots=True)
class ReplayTargets:
    """The topics and group of one integration."""

    integration_uuid: str
    dead_letter_topic: str
    retry_topic: str
    group_id: str
    other_topics: frozenset[str] = frozenset()
    """Topics of the integration that must never receive a replay (see `check_retry_topic`)."""

    @classmethod
    def of(cls, integration_uuid: str, topics: TopicSettings | None = None) -> ReplayTargets:
        t = topics or TopicSettings()
        retry = t.retry_topic(integration_uuid)
        # The names the settings in use give the integration's other topics, and those the
        # default prefixes give them (an operator without --config may mix them up); a
        # default name that is this configuration's retry topic stays allowed.
        own = _other_topics(t, integration_uuid)
        defaults = _other_topics(TopicSettings(), integration_uuid) - {retry}
        return cls(
            integration_uuid,
            t.dead_letter_topic(integration_uuid),
            retry,
            t.group_id(integration_uuid),
            frozenset(own | defaults),
        )


def _other_topics(topics: TopicSettings, integration_uuid: str) -> set[str]:
    return {
        topics.dead_letter_topic(integration_uuid),
        topics.mapping_topic(integration_uuid),
        topics.mutation_topic(integration_uuid),
    }


def check_retry_topic(client_config: Mapping[str, str], targets: ReplayTargets) -> None:
    """Raise `ConfigurationError` unless `targets.retry_topic` is the integration's retry
    topic: the name rules and its ``cleanup.policy`` (DescribeConfigs on the topic)."""
    topic = targets.retry_topic
    admin = new_admin(client_config, logger=_log)
    resource = ConfigResource(ResourceType.TOPIC, topic)
    policy: str | None
    try:
        entries = admin.describe_configs([resource], request_timeout=_TIMEOUT_S)[resource].result(
            timeout=_TIMEOUT_S
        )
        entry = entries.get("cleanup.policy")
        policy = entry.value if entry is not None and entry.value is not None else ""
    except KafkaException as exc:
        error = error_of(exc)
        if error is None or error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise
        policy = None
    problem = retry_topic_problem(
        topic,
        targets.integration_uuid,
        other_topics=targets.other_topics,
        cleanup_policy=policy,
    )
    if problem is not None:
        raise ConfigurationError(f"refusing to replay: {problem}")


def _reader(client_config: Mapping[str, str], group_id: str) -> Any:
    """A consumer that never joins a group (partitions are assigned) and never commits.

    librdkafka still looks its group up (FindCoordinator): a reader of topic T uses the group
    ``T.reader``, so an operator's principal needs only Describe on known groups
    (`connector.acls`)."""
    return new_consumer(
        client_config,
        group_id=group_id,
        logger=_log,
        settings={
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        },
    )


def _scan(
    client_config: Mapping[str, str],
    topic: str,
    on_message: Callable[[Any], None],
    *,
    ranges: Mapping[int, tuple[int, int]] | None = None,
    progress: Progress,
    label: str,
    timeout_s: float = _TIMEOUT_S,
    missing: str | None = None,
) -> None:
    """Read `topic` (whole partitions up to their current end, or [start, end) `ranges`).

    A missing topic reads as empty, unless `missing` says what the topic is: then it raises
    `ConfigurationError` naming it (and the broker's error, e.g. no Describe ACL, as a
    `KafkaException`). Raises `TimeoutError` if the reading stalls.
    """
    consumer = _reader(client_config, f"{topic}.reader")
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None:
            if missing is None:
                return
            if described is not None and described.error.code() not in _MISSING_TOPIC:
                raise KafkaException(described.error)
            raise ConfigurationError(f"{missing} {topic!r} does not exist: {_CHECK_NAMES}")
        bounds: dict[int, tuple[int, int]] = {}
        for p in sorted(described.partitions):
            if ranges is not None and p not in ranges:
                continue
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            start, end = ranges[p] if ranges is not None else (low, high)
            start, end = max(start, low), min(end, high)
            if start < end:
                bounds[p] = (start, end)
        progress.phase(label, sum(end - start for start, end in bounds.values()))
        if not bounds:
            return
        consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in bounds.items()])
        deadline = time.monotonic() + timeout_s
        while bounds:
            msg = consumer.poll(0.5)
            if msg is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading {topic} stalled")
                continue
            deadline = time.monotonic() + timeout_s
            p = msg.partition()
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    bounds.pop(p, None)
                    continue
                raise TimeoutError(f"reading {topic} failed: {msg.error().name()}")
            if p not in bounds:
                continue
            _, end = bounds[p]
            if msg.offset() >= end:
                bounds.pop(p)
                continue
            on_message(msg)
            progress.advance()
            if msg.offset() >= end - 1:
                bounds.pop(p)
    finally:
        consumer.close()


_MISSING_TOPIC = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC)
_CHECK_NAMES = (
    "check the integration uuid and the topic prefixes (the configuration's topics section or "
    "the --*-prefix options), or create the integration's topics with `iec-connector topics "
    "create`"
)


def _dead_letter(msg: Any) -> DeadLetter:
    return DeadLetter.from_message(
        msg.topic(),
        msg.partition(),
        msg.offset(),
        msg.key(),
        msg.value(),
        msg.headers(),
        msg.timestamp()[1],
    )


def read_dead_letters(
    client_config: Mapping[str, str],
    topic: str,
    *,
    at: tuple[int, int] | None = None,
    progress: Progress | None = None,
) -> list[DeadLetter]:
    """Every dead letter in `topic` (or only the one at (partition, offset) `at`).

    A missing topic is a `ConfigurationError` (a wrong prefix or uuid must not read as "no
    dead letters")."""
    found: list[DeadLetter] = []
    ranges = {at[0]: (at[1], at[1] + 1)} if at is not None else None
    _scan(
        client_config,
        topic,
        lambda msg: found.append(_dead_letter(msg)),
        ranges=ranges,
        progress=progress or _Silent(),
        label=f"reading {topic}",
        missing="dead-letter topic",
    )
    return found


def find_replays(
    client_config: Mapping[str, str], retry_topic: str, *, progress: Progress | None = None
) -> dict[str, str]:
    """Dead-letter ref → ``topic/partition/offset`` of its (last) replay in `retry_topic`.

    Raises `ConfigurationError` if the topic holds a record that is not a replay: only
    `replay` writes a retry topic, so such a record means the name and policy checks of
    `check_retry_topic` were passed by some other topic (a dead-letter topic under another
    prefix, an archive named ``<anything>.<uuid>``)."""
    replays: dict[str, str] = {}
    foreign: list[str] = []

    def note(msg: Any) -> None:
        where = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"
        of = header_value(msg.headers(), Header.REPLAY_OF)
        if of is not None:
            replays[of] = where
        else:
            foreign.append(where)

    _scan(client_config, retry_topic, note, progress=progress or _Silent(), label="reading replays")
    if foreign:
        raise ConfigurationError(
            f"refusing to replay: {retry_topic!r} holds {len(foreign)} record(s) that are not "
            f"replays (first: {foreign[0]}), so it is not this integration's retry topic: "
            "check --retry-prefix (or the configuration's topics.retry_prefix)"
        )
    return replays


def _committed(
    client_config: Mapping[str, str], group_id: str, partitions: Collection[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    consumer = _reader(client_config, group_id)  # reads the group's offsets, never joins it
    try:
        offsets = consumer.committed(
            [TopicPartition(t, p) for t, p in partitions], timeout=_TIMEOUT_S
        )
    finally:
        consumer.close()
    return {(tp.topic, tp.partition): tp.offset for tp in offsets if tp.offset >= 0}


def read_supersede_facts(
    client_config: Mapping[str, str],
    group_id: str,
    selected: Iterable[DeadLetter],
    all_letters: Iterable[DeadLetter],
    *,
    progress: Progress | None = None,
) -> SupersedeFacts:
    """What the superseded rule needs, for the dead letters `selected` for replay.

    1. The group's committed offset on each origin partition.
    2. Per origin partition, the offsets of records with the keys of interest, read from the
       earliest selected origin up to the committed offset.
    3. The origins of all dead letters (a newer record that failed too supersedes nothing).
    """
    wanted: dict[tuple[str, int], tuple[int, set[bytes]]] = {}
    for dl in selected:
        if dl.source is None or dl.key is None:
            continue
        topic, partition, offset = dl.source
        first, keys = wanted.get((topic, partition), (offset, set()))
        keys.add(dl.key)
        wanted[(topic, partition)] = (min(first, offset), keys)
    if not wanted:
        return SupersedeFacts()
    # 1. committed offsets
    committed = _committed(client_config, group_id, list(wanted))
    # 2. newer records of the same keys
    newer: dict[tuple[str, int], dict[bytes, list[int]]] = {}
    by_topic: dict[str, dict[int, tuple[int, int]]] = {}
    for (topic, partition), (first, _) in wanted.items():
        end = committed.get((topic, partition), _NO_OFFSET)
        if end > first + 1:
            by_topic.setdefault(topic, {})[partition] = (first + 1, end)
    for topic, ranges in by_topic.items():

        def note(msg: Any) -> None:
            tp = (msg.topic(), msg.partition())
            key = msg.key()
            if key is not None and key in wanted[tp][1]:
                newer.setdefault(tp, {}).setdefault(key, []).append(msg.offset())

        _scan(
            client_config,
            topic,
            note,
            ranges=ranges,
            progress=progress or _Silent(),
            label=f"checking {topic} for newer mutations",
        )
    # 3. origins of all dead letters
    dead_lettered = frozenset(dl.source for dl in all_letters if dl.source is not None)
    return SupersedeFacts(committed, newer, dead_lettered)


@dataclass(slots=True)
class ReplayReport:
    decisions: list[Decision]
    dry_run: bool
    published: dict[str, str] = field(default_factory=dict)
    """Dead-letter ref → ``topic/partition/offset`` of the replayed record."""
    failed: dict[str, str] = field(default_factory=dict)
    """Dead-letter ref → why the write failed (a librdkafka error name)."""


def _publish(
    client_config: Mapping[str, str],
    retry_topic: str,
    decisions: Iterable[Decision],
    at: datetime,
    report: ReplayReport,
    progress: Progress,
) -> None:
    """Write the replays in plan order and wait for every acknowledgement."""
    todo = [d for d in decisions if d.replay]
    progress.phase(f"replaying to {retry_topic}", len(todo))
    if not todo:
        return
    # Dead letters may be larger than the client's 1 MB default (the dead-letter topic takes
    # 8 MiB): the retry topic's own limit decides. A full local queue waits for room.
    producer = AckedProducer(
        client_config,
        name=f"replay-{retry_topic}",
        logger=_log,
        settings={"linger.ms": 5, "message.max.bytes": 64 * 1024 * 1024},
        delivery_timeout_s=_TIMEOUT_S,
        queue_full_wait_s=None,
    )
    try:
        # Written in chunks, each acknowledged with one wait: the progress bar moves, and
        # every fate (written or refused) goes into the report.
        for start in range(0, len(todo), _PUBLISH_CHUNK):
            chunk = todo[start : start + _PUBLISH_CHUNK]
            records = [
                ProducerRecord(
                    retry_topic,
                    key=d.dead_letter.key,
                    value=d.dead_letter.value,
                    headers=list(replay_headers(d.dead_letter, at)),
                )
                for d in chunk
            ]
            try:
                deliveries = producer.send_many(records)
            except TimeoutError:
                for decision in chunk:
                    report.failed[decision.dead_letter.ref] = "not acknowledged in time"
                progress.advance(len(chunk))
                continue
            for decision, delivery in zip(chunk, deliveries, strict=True):
                ref = decision.dead_letter.ref
                if delivery.error is not None:
                    report.failed[ref] = delivery.error.name()
                else:
                    report.published[ref] = f"{retry_topic}/{delivery.partition}/{delivery.offset}"
            progress.advance(len(chunk))
    finally:
        producer.close(_TIMEOUT_S)


def replay(
    client_config: Mapping[str, str],
    targets: ReplayTargets,
    selection: ReplayFilter,
    *,
    include_superseded: bool = False,
    force: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ReplayReport:
    """Replay the dead letters of one integration that `selection` matches.

    0. Refuse (`ConfigurationError`) unless the target is the integration's retry topic.
    1. Read the dead-letter topic and apply the filter.
    2. Read the retry topic for earlier replays of the selected ones; refuse it if it holds
       anything but replays.
    3. Unless superseded ones are included anyway, read the facts for the superseded rule.
    4. Plan (pure), then publish the replays unless it is a dry run.
    """
    shown = progress or _Silent()
    # 0. the target: the integration's retry topic and nothing else, checked before reading
    check_retry_topic(client_config, targets)
    # 1. dead letters
    letters = read_dead_letters(client_config, targets.dead_letter_topic, progress=shown)
    selected = [dl for dl in letters if selection.matches(dl)]
    if not selected:
        return ReplayReport([], dry_run)
    # 2. earlier replays
    replayed = find_replays(client_config, targets.retry_topic, progress=shown)
    # 3. superseded facts
    facts = SupersedeFacts()
    if not include_superseded:
        facts = read_supersede_facts(
            client_config, targets.group_id, selected, letters, progress=shown
        )
    # 4. plan and publish
    decisions = plan_replay(
        selected, selection, facts, replayed, include_superseded=include_superseded, force=force
    )
    report = ReplayReport(decisions, dry_run)
    if not dry_run:
        _publish(client_config, targets.retry_topic, decisions, now(), report, shown)
    return report
