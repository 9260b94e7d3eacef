"""Which topics the configured integrations need, with what settings, and creating them.

`plan_topics` is pure: settings + installed drivers -> a `TopicPlan`. `apply_plan` is the thin
Kafka adapter that creates what is missing and checks what exists; `iec-connector topics
create`, the runtime and the demo share both.

Choices (all topics: ``message.timestamp.type=CreateTime``; ``min.insync.replicas`` is set
only when the replication factor allows a quorum, i.e. RF > 1):

- mutation topics ``<mutation_prefix>.<entity_type>``: `topics.partitions` partitions,
  delete policy, 7 days' retention (an integration may be down over a long weekend);
- mapping topics, one per integration: the settings the mapping store declares and checks
  (`connector.mapping_store.topic`: compacted, 1 partition; its docstring says why);
- dead-letter topics, one per integration: 30 days' retention, 1 partition, so failures
  keep their global order for inspection and replay tools; the volume is low by nature
  (Kafka Connect creates its DLQ with 1 partition too);
- retry topics (replay target), one per integration: 1 partition (fed by replays of one
  dead-letter partition, order kept), 7 days' retention.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

# The public names are re-exported by `confluent_kafka.admin` without `__all__`; strict mypy
# wants them from where they are defined.
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType
from confluent_kafka.cimpl import NewTopic

from connector.config.settings import ConnectorSettings
from connector.driver_registry import DriverRegistry
from connector.mapping_store.topic import MAPPING_TOPIC_CONFIG, MAPPING_TOPIC_PARTITIONS
from contracts import ConfigProblem, ConfigurationError, ConfigValidationError

__all__ = [
    "TopicKind",
    "TopicPlan",
    "TopicResult",
    "TopicSpec",
    "TopicStatus",
    "apply_plan",
    "check_plan",
    "dead_letter_topic_config",
    "mapping_topic_config",
    "mutation_topic_config",
    "plan_topics",
    "retry_topic_config",
]

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS


class TopicKind(StrEnum):
    MUTATIONS = "mutations"
    MAPPINGS = "mappings"
    DEAD_LETTERS = "dead-letters"
    RETRY = "retry"


_DEAD_LETTER_MAX_BYTES = 8 * 1024 * 1024


def _common(replication_factor: int) -> dict[str, str]:
    config = {"message.timestamp.type": "CreateTime"}
    if replication_factor > 1:
        # RF 2 -> 1 (a second replica down must not stop writes), RF >= 3 -> 2.
        config["min.insync.replicas"] = str(min(2, replication_factor - 1))
    return config


def mutation_topic_config(replication_factor: int = 1) -> dict[str, str]:
    """Topic configuration of a mutation topic."""
    return {"cleanup.policy": "delete", "retention.ms": str(7 * _DAY_MS)} | _common(
        replication_factor
    )


def mapping_topic_config(replication_factor: int = 1) -> dict[str, str]:
    """Topic configuration of a mapping topic: the mapping store's, so both create the same."""
    return dict(MAPPING_TOPIC_CONFIG) | _common(replication_factor)


def dead_letter_topic_config(replication_factor: int = 1) -> dict[str, str]:
    """Topic configuration of a dead-letter topic: kept 30 days, never compacted.

    It accepts larger records than a mutation topic (8 MiB): a dead letter is the original
    record plus up to ~13 KB of context headers, and a record that fits its own topic must
    always fit here, or it could never be dead-lettered and its partition would stall.
    """
    return {
        "cleanup.policy": "delete",
        "retention.ms": str(30 * _DAY_MS),
        "max.message.bytes": str(_DEAD_LETTER_MAX_BYTES),
    } | _common(replication_factor)


def retry_topic_config(replication_factor: int = 1) -> dict[str, str]:
    """Topic configuration of a retry (replay) topic: takes what a dead-letter topic takes."""
    return {
        "cleanup.policy": "delete",
        "retention.ms": str(7 * _DAY_MS),
        "max.message.bytes": str(_DEAD_LETTER_MAX_BYTES),
    } | _common(replication_factor)


# Settings an existing topic must have: anything else would lose data (a mapping topic with
# retention forgets mappings; a compacted dead-letter topic keeps only the last per key).
_ENFORCED = {
    TopicKind.MAPPINGS: frozenset({"cleanup.policy"}),
    TopicKind.DEAD_LETTERS: frozenset({"cleanup.policy"}),
}


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic to have, with its declared settings."""

    name: str
    kind: TopicKind
    partitions: int
    replication_factor: int
    config: Mapping[str, str] = field(hash=False)
    integrations: tuple[str, ...] = ()
    """Uuids of the integrations that use it."""

    @property
    def enforced(self) -> frozenset[str]:
        """Config names an existing topic must match (others are only reported as drift)."""
        return _ENFORCED.get(self.kind, frozenset())


@dataclass(frozen=True, slots=True)
class TopicPlan:
    """Every topic the enabled integrations need, mutation topics first."""

    topics: tuple[TopicSpec, ...]

    def of_kind(self, kind: TopicKind) -> tuple[TopicSpec, ...]:
        return tuple(spec for spec in self.topics if spec.kind == kind)

    def names(self) -> list[str]:
        return [spec.name for spec in self.topics]


def plan_topics(settings: ConnectorSettings, registry: DriverRegistry) -> TopicPlan:
    """The topics of every enabled integration; unknown drivers raise `ConfigValidationError`.

    An integration without `entity_types` consumes every type its driver supports.
    """
    topics = settings.topics
    rf = topics.replication_factor
    users: dict[str, list[str]] = {}
    per_integration: list[TopicSpec] = []
    problems: list[ConfigProblem] = []
    for index, integration in enumerate(settings.integrations):
        if not integration.enabled:
            continue
        entity_types: Sequence[str]
        if integration.entity_types is not None:
            entity_types = integration.entity_types
        else:
            try:
                entity_types = registry.info(integration.driver).supported_entity_types
            except ConfigurationError as exc:
                problems.append(
                    ConfigProblem(f"integrations[{index}].driver", "known_driver", str(exc))
                )
                continue
        for entity_type in entity_types:
            users.setdefault(entity_type, []).append(integration.uuid)
        owner = (integration.uuid,)
        per_integration += [
            TopicSpec(
                topics.mapping_topic(integration.uuid),
                TopicKind.MAPPINGS,
                MAPPING_TOPIC_PARTITIONS,
                rf,
                mapping_topic_config(rf),
                owner,
            ),
            TopicSpec(
                topics.dead_letter_topic(integration.uuid),
                TopicKind.DEAD_LETTERS,
                1,
                rf,
                dead_letter_topic_config(rf),
                owner,
            ),
            TopicSpec(
                topics.retry_topic(integration.uuid),
                TopicKind.RETRY,
                1,
                rf,
                retry_topic_config(rf),
                owner,
            ),
        ]
    if problems:
        raise ConfigValidationError(problems)
    mutations = [
        TopicSpec(
            topics.mutation_topic(entity_type),
            TopicKind.MUTATIONS,
            topics.partitions,
            rf,
            mutation_topic_config(rf),
            tuple(uuids),
        )
        for entity_type, uuids in sorted(users.items())
    ]
    return TopicPlan(tuple(mutations + per_integration))


class TopicStatus(StrEnum):
    CREATED = "created"
    EXISTS = "exists"
    WOULD_CREATE = "would-create"
    MISMATCH = "mismatch"
    """Exists with an enforced setting that differs: a problem an operator must fix."""
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class TopicResult:
    """What `apply_plan` did or found for one topic."""

    spec: TopicSpec
    status: TopicStatus
    detail: str = ""
    drift: Mapping[str, tuple[str, str | None]] = field(default_factory=dict, hash=False)
    """Declared settings an existing topic has otherwise: name -> (declared, actual)."""

    @property
    def ok(self) -> bool:
        return self.status not in (TopicStatus.MISMATCH, TopicStatus.FAILED)


def apply_plan(
    admin: AdminClient, plan: TopicPlan, *, dry_run: bool = False, timeout_s: float = 30.0
) -> list[TopicResult]:
    """Create the missing topics of `plan` and check the existing ones; idempotent.

    1. List the cluster's topics.
    2. Create the missing ones (dry run: only report them), all in one request, and wait
       until each created one has its partition leaders (clients fail before that).
    3. Describe the configuration of those that existed (or appeared meanwhile: one a
       broker does not know yet is asked again for a few seconds) and compare it with the
       declared one: an enforced setting that differs is a `MISMATCH`, any other difference
       is reported as drift.

    Raises `KafkaException` when the cluster cannot be reached at all.
    """
    # 1. List.
    metadata: Any = admin.list_topics(timeout=timeout_s)
    existing = {name: len(topic.partitions) for name, topic in metadata.topics.items()}
    results: dict[str, TopicResult] = {}
    to_check = [spec for spec in plan.topics if spec.name in existing]
    missing = [spec for spec in plan.topics if spec.name not in existing]
    # 2. Create.
    if dry_run:
        for spec in missing:
            results[spec.name] = TopicResult(spec, TopicStatus.WOULD_CREATE)
    elif missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=spec.replication_factor,
                    config=dict(spec.config),
                )
                for spec in missing
            ],
            operation_timeout=timeout_s,
            request_timeout=timeout_s,
        )
        for spec in missing:
            try:
                futures[spec.name].result(timeout=timeout_s)
                results[spec.name] = TopicResult(spec, TopicStatus.CREATED)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if (
                    isinstance(error, KafkaError)
                    and error.code() == KafkaError.TOPIC_ALREADY_EXISTS
                ):
                    to_check.append(spec)  # another process created it meanwhile
                else:
                    results[spec.name] = TopicResult(spec, TopicStatus.FAILED, _describe(exc))
        # A created topic has no partition leader for a moment: a client using it at once
        # would fail with NOT_LEADER_FOR_PARTITION (or LEADER_NOT_AVAILABLE).
        created = [name for name, result in results.items() if result.status is TopicStatus.CREATED]
        for name in _without_leaders(admin, created, timeout_s):
            spec = results[name].spec
            results[name] = TopicResult(
                spec, TopicStatus.FAILED, f"created, but no partition leader after {timeout_s:g}s"
            )
    # 3. Check the existing ones.
    late = [spec.name for spec in to_check if spec.name not in existing]
    if late:
        # Created by someone else after our listing: learn their partition counts too.
        existing.update(_partition_counts(admin, late, timeout_s))
    configs = _configs(admin, [spec.name for spec in to_check], timeout_s)
    for spec in to_check:
        found = configs[spec.name]
        if isinstance(found, KafkaException):
            results[spec.name] = TopicResult(spec, TopicStatus.FAILED, _describe(found))
        else:
            results[spec.name] = _compare(spec, found, existing.get(spec.name))
    return [results[spec.name] for spec in plan.topics]


def check_plan(
    admin: AdminClient, plan: TopicPlan, *, timeout_s: float = 30.0
) -> list[TopicResult]:
    """Check that the topics of `plan` exist, without creating any and with as few rights as
    possible: `WOULD_CREATE` for a missing topic (or one this principal may not Describe), and
    for kinds with enforced settings (mappings, dead letters) their configuration as in
    `apply_plan` (DescribeConfigs); others are only listed (Describe, which Read implies).
    """
    metadata: Any = admin.list_topics(timeout=timeout_s)
    existing = {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if topic.error is None
    }
    results: dict[str, TopicResult] = {}
    to_check = []
    for spec in plan.topics:
        if spec.name not in existing:
            results[spec.name] = TopicResult(spec, TopicStatus.WOULD_CREATE)
        elif spec.enforced:
            to_check.append(spec)
        else:
            results[spec.name] = TopicResult(spec, TopicStatus.EXISTS)
    configs = _configs(admin, [spec.name for spec in to_check], timeout_s)
    for spec in to_check:
        found = configs[spec.name]
        if isinstance(found, KafkaException):
            detail = f"cannot read its configuration (DescribeConfigs): {_describe(found)}"
            results[spec.name] = TopicResult(spec, TopicStatus.FAILED, detail)
        else:
            results[spec.name] = _compare(spec, found, existing.get(spec.name))
    return [results[spec.name] for spec in plan.topics]


_UNKNOWN_FOR_A_MOMENT_S = 5.0


def _configs(
    admin: AdminClient, names: list[str], timeout_s: float
) -> dict[str, dict[str, str | None] | KafkaException]:
    """Each topic's configuration, or the error describing it. A topic another process
    created a moment ago may still be unknown to the broker answering (its metadata lags the
    controller, more so with an authorizer): UNKNOWN_TOPIC_OR_PART is asked again for a few
    seconds before it counts."""
    found: dict[str, dict[str, str | None] | KafkaException] = {}
    pending = list(names)
    deadline = time.monotonic() + min(_UNKNOWN_FOR_A_MOMENT_S, timeout_s)
    while pending:
        described = admin.describe_configs(
            [ConfigResource(ResourceType.TOPIC, name) for name in pending],
            request_timeout=timeout_s,
        )
        by_name = {resource.name: future for resource, future in described.items()}
        again = []
        for name in pending:
            try:
                entries = by_name[name].result(timeout=timeout_s)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                unknown = (
                    isinstance(error, KafkaError)
                    and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
                )
                if unknown and time.monotonic() < deadline:
                    again.append(name)
                else:
                    found[name] = exc
                continue
            found[name] = {key: entry.value for key, entry in entries.items()}
        pending = again
        if pending:
            time.sleep(0.2)
    return found


def _without_leaders(admin: AdminClient, names: list[str], timeout_s: float) -> list[str]:
    """Wait until every partition of `names` has a leader; the names still without one."""
    waiting = set(names)
    deadline = time.monotonic() + timeout_s
    while waiting:
        try:
            metadata: Any = admin.list_topics(timeout=max(deadline - time.monotonic(), 0.1))
        except KafkaException:
            metadata = None
        if metadata is not None:
            for name in list(waiting):
                topic = metadata.topics.get(name)
                if (
                    topic is not None
                    and topic.error is None
                    and topic.partitions
                    and all(p.leader >= 0 and p.error is None for p in topic.partitions.values())
                ):
                    waiting.discard(name)
        if not waiting or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return sorted(waiting)


def _partition_counts(admin: AdminClient, names: list[str], timeout_s: float) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in names:
        try:
            topic = admin.list_topics(name, timeout=timeout_s).topics.get(name)
        except KafkaException:
            continue
        if topic is not None and topic.error is None and topic.partitions:
            counts[name] = len(topic.partitions)
    return counts


def _compare(
    spec: TopicSpec, actual: Mapping[str, str | None], partitions: int | None
) -> TopicResult:
    drift = {
        name: (declared, actual.get(name))
        for name, declared in spec.config.items()
        if actual.get(name) != declared
    }
    wrong = sorted(name for name in drift if name in spec.enforced)
    if wrong:
        detail = "; ".join(
            f"{name} is {drift[name][1]!r}, must be {drift[name][0]!r}" for name in wrong
        )
        why = (
            "mappings would be lost"
            if spec.kind == TopicKind.MAPPINGS
            else "dead letters would be lost"
        )
        return TopicResult(spec, TopicStatus.MISMATCH, f"{detail} ({why})", drift)
    notes = [f"{name}={value[1]!r} (declared {value[0]!r})" for name, value in drift.items()]
    if partitions is not None and partitions != spec.partitions:
        notes.insert(0, f"{partitions} partitions (declared {spec.partitions})")
    return TopicResult(spec, TopicStatus.EXISTS, "; ".join(notes), drift)


def _describe(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError):
        return f"{error.name()}: {error.str()}"
    return str(exc)
