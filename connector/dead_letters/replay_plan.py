"""Which dead letters a replay republishes, and why the others are skipped. Pure: no I/O.

Rules, in order, for each dead letter the filter selects:

1. Already replayed: the retry topic holds a record whose `iec.replay.of` names this dead
   letter → skip (unless `force`).
2. No origin: without origin headers nothing can be checked → skip (unless
   `include_superseded`).
3. Superseded: a record with the same key sits in the origin partition after the failed
   one and before the integration's committed offset, and is not itself a dead letter —
   the entity has been handled with a newer mutation since, and replaying the older one
   would overwrite it downstream → skip (unless `include_superseded`).
4. Otherwise replay. Replays are ordered by origin (topic, partition, offset), so several
   dead letters of one entity are replayed in their original order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from connector.dead_letters.headers import (
    DLT_PREFIX,
    REPLAY_PREFIX,
    DeadLetter,
    Header,
    Headers,
    header_value,
    without_prefix,
)

__all__ = [
    "Decision",
    "Reason",
    "ReplayFilter",
    "SupersedeFacts",
    "plan_replay",
    "replay_headers",
    "retry_topic_problem",
    "superseded_by",
]

Partition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Selects dead letters; unset criteria match everything.

    Time bounds apply to the failure time (`since` inclusive, `until` exclusive); a dead
    letter without one never matches a time bound. `error_class` matches the qualified name
    or the bare class name.
    """

    integration_uuid: str
    since: datetime | None = None
    until: datetime | None = None
    entity_type: str | None = None
    error_class: str | None = None
    stage: str | None = None

    def matches(self, dl: DeadLetter) -> bool:
        if dl.integration_uuid is not None and dl.integration_uuid != self.integration_uuid:
            return False
        if self.since is not None or self.until is not None:
            if dl.failed_at is None:
                return False
            if self.since is not None and dl.failed_at < _utc(self.since):
                return False
            if self.until is not None and dl.failed_at >= _utc(self.until):
                return False
        if self.entity_type is not None and dl.entity_type != self.entity_type:
            return False
        if self.stage is not None and dl.stage != self.stage:
            return False
        if self.error_class is not None:
            cls = dl.exception_class or ""
            if self.error_class not in (cls, cls.rsplit(".", 1)[-1]):
                return False
        return True


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class Reason(StrEnum):
    REPLAY = "replay"
    FORCED = "replay (already replayed, --force)"
    INCLUDED = "replay (superseded or unchecked, --include-superseded)"
    ALREADY_REPLAYED = "already replayed"
    SUPERSEDED = "superseded by a newer handled mutation"
    NO_ORIGIN = "no origin headers: cannot check for newer mutations"


@dataclass(frozen=True, slots=True)
class Decision:
    dead_letter: DeadLetter
    reason: Reason
    detail: str = ""

    @property
    def replay(self) -> bool:
        return self.reason in (Reason.REPLAY, Reason.FORCED, Reason.INCLUDED)


@dataclass(frozen=True, slots=True)
class SupersedeFacts:
    """What the adapter read from Kafka for the superseded rule."""

    committed: Mapping[Partition, int] = field(default_factory=dict)
    """The integration group's committed offset per origin partition (absent: none)."""
    newer: Mapping[Partition, Mapping[bytes, Sequence[int]]] = field(default_factory=dict)
    """Per origin partition: offsets of records per key (at least those after the dead
    letters' origins and before the committed offset)."""
    dead_lettered: frozenset[tuple[str, int, int]] = frozenset()
    """(topic, partition, offset) of every mutation that has a dead letter."""


def superseded_by(dl: DeadLetter, facts: SupersedeFacts) -> int | None:
    """Offset of a newer, handled record of the same entity, or None."""
    if dl.source is None or dl.key is None:
        return None
    topic, partition, offset = dl.source
    committed = facts.committed.get((topic, partition))
    if committed is None:
        return None
    for newer in sorted(facts.newer.get((topic, partition), {}).get(dl.key, ())):
        if offset < newer < committed and (topic, partition, newer) not in facts.dead_lettered:
            return newer
    return None


def plan_replay(
    dead_letters: Iterable[DeadLetter],
    selection: ReplayFilter,
    facts: SupersedeFacts,
    replayed: Mapping[str, str],
    *,
    include_superseded: bool = False,
    force: bool = False,
) -> list[Decision]:
    """A decision for every dead letter `selection` matches, in replay order.

    `replayed` maps a dead letter's ref (``topic/partition/offset``) to where its earlier
    replay sits in the retry topic.
    """
    decisions: list[Decision] = []
    for dl in sorted(
        (d for d in dead_letters if selection.matches(d)),
        key=lambda d: (d.source or ("", -1, -1), d.topic, d.partition, d.offset),
    ):
        # 1. already replayed
        earlier = replayed.get(dl.ref)
        if earlier is not None and not force:
            decisions.append(Decision(dl, Reason.ALREADY_REPLAYED, f"as {earlier}"))
            continue
        # 2. no origin
        if dl.source is None:
            reason = Reason.INCLUDED if include_superseded else Reason.NO_ORIGIN
            decisions.append(Decision(dl, reason))
            continue
        # 3. superseded
        newer = superseded_by(dl, facts)
        if newer is not None:
            topic, partition, _ = dl.source
            detail = f"{topic}/{partition}/{newer} has the same key"
            reason = Reason.INCLUDED if include_superseded else Reason.SUPERSEDED
            decisions.append(Decision(dl, reason, detail))
            continue
        # 4. replay
        detail = f"earlier replay {earlier}" if earlier is not None else ""
        decisions.append(Decision(dl, Reason.FORCED if earlier else Reason.REPLAY, detail))
    return decisions


def replay_headers(dl: DeadLetter, at: datetime) -> Headers:
    """The headers of the republished record: the original ones plus replay context.

    Previous `iec.dlt.*` and `iec.replay.*` headers are dropped; the origin is the first one
    (a record replayed again keeps pointing at the mutation it started from).
    """
    headers = without_prefix(dl.headers, DLT_PREFIX, REPLAY_PREFIX)
    added: list[tuple[str, str]] = [
        (Header.REPLAY_OF, dl.ref),
        (Header.REPLAY_AT, _utc(at).astimezone(UTC).isoformat(timespec="milliseconds")),
        (Header.REPLAY_COUNT, str(dl.replay_count + 1)),
    ]
    if dl.source is not None:
        topic, partition, offset = dl.source
        added += [
            (Header.REPLAY_ORIGIN_TOPIC, topic),
            (Header.REPLAY_ORIGIN_PARTITION, str(partition)),
            (Header.REPLAY_ORIGIN_OFFSET, str(offset)),
        ]
    timestamp = header_value(dl.headers, Header.REPLAY_ORIGIN_TIMESTAMP)
    if timestamp is None and dl.origin_timestamp_ms is not None:
        timestamp = str(dl.origin_timestamp_ms)
    if timestamp is not None:
        added.append((Header.REPLAY_ORIGIN_TIMESTAMP, timestamp))
    return headers + [(name, value.encode("utf-8")) for name, value in added]


def retry_topic_problem(
    topic: str,
    integration_uuid: str,
    *,
    other_topics: Collection[str],
    cleanup_policy: str | None,
) -> str | None:
    """Why replays must not be written to `topic`, or None if it is the integration's retry
    topic. A replay writes records the integration's group will consume as mutations: into
    any other topic (its compacted mapping topic, another team's topic) it would corrupt it.

    1. Its name is ``<retry prefix>.<integration uuid>``.
    2. It is none of the integration's other topics (`other_topics`: its dead-letter and
       mapping topics, and ``<mutation prefix>.<uuid>``, by the prefixes in use and the
       defaults).
    3. It exists (`cleanup_policy` None: not found): a write must never create a topic.
    4. Its ``cleanup.policy`` is exactly ``delete``, as `topics create` makes it: a compacted
       topic is a mapping topic, or not the connector's.
    """
    fix = "check --retry-prefix (or the configuration's topics.retry_prefix)"
    if not topic.endswith(f".{integration_uuid}"):
        return f"{topic!r} is not a retry topic of integration {integration_uuid}: {fix}"
    if topic in other_topics:
        return f"{topic!r} is another topic of integration {integration_uuid}: {fix}"
    if cleanup_policy is None:
        return (
            f"retry topic {topic!r} does not exist: create it with `iec-connector topics create` "
            f"or {fix}"
        )
    policies = {p.strip() for p in cleanup_policy.split(",") if p.strip()}
    if policies != {"delete"}:
        return (
            f"{topic!r} has cleanup.policy={cleanup_policy}, but a retry topic is never "
            f"compacted (this looks like a mapping topic): {fix}"
        )
    return None
