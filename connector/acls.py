"""The Kafka ACLs each principal of the connector needs, and no more. Pure: no I/O.

Three principals (see the README's "Security" section):

- the **runtime** (`iec-connector run`): reads the mutation topics of its integrations'
  entity types and each integration's retry topic as the integration's consumer group;
  reads and writes each integration's mapping topic; writes its dead-letter topic; reads
  the configuration of the mapping and dead-letter topics (the start-up check that they are
  compacted / not compacted). No Create, no Delete, nothing on the cluster.
- the **topics job** (`iec-connector topics create`): creates the topics and checks their
  configuration: Create and DescribeConfigs on each topic (and Describe, which Create and
  DescribeConfigs do not imply, to list them).
- the **operator** (`iec-connector dead-letters list|show|replay`, `mappings ...`): reads
  the dead-letter topic, the retry topic (earlier replays), the origin mutation topics
  (superseded records) and the mapping topic, reads the integration group's committed
  offsets (Describe on the group), checks and writes the retry topic (DescribeConfigs,
  Write). Its readers never join a group; each looks up ``<topic>.reader`` (Describe).

`Grant`s name literal resources (every topic and group of the configuration), so they match
the topics `topics create` makes. `kafka_acls_command` spells one out for ``kafka-acls.sh``.
Writes are idempotent: since Kafka 3.0, Write on a topic implies IdempotentWrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from connector.config.settings import ConnectorSettings
from connector.topic_admin import TopicKind, TopicPlan

__all__ = ["Grant", "Role", "grants", "kafka_acls_command", "reader_group"]


class Role(StrEnum):
    RUNTIME = "runtime"
    TOPICS_JOB = "topics-job"
    OPERATOR = "operator"
    """`dead-letters list|show|replay` and `mappings get|count|export`."""


def reader_group(topic: str) -> str:
    """The group of a consumer that only reads `topic` by assignment (the mapping reader, the
    CLI's readers): never joined, but librdkafka looks its coordinator up (Describe)."""
    return f"{topic}.reader"


@dataclass(frozen=True, slots=True)
class Grant:
    """Allow `operation` on one resource (``topic`` or ``group``, literal name)."""

    resource: str
    name: str
    operation: str
    """As ``kafka-acls.sh --operation`` spells it: Read, Write, Describe, DescribeConfigs..."""
    why: str


def grants(role: Role, settings: ConnectorSettings, plan: TopicPlan) -> list[Grant]:
    """Every ACL `role` needs for the enabled integrations of `settings` (`plan`: their
    topics, from `topic_admin.plan_topics`)."""
    topics = settings.topics
    found: list[Grant] = []
    if role is Role.TOPICS_JOB:
        for spec in plan.topics:
            for operation in ("Create", "DescribeConfigs", "Describe"):
                found.append(Grant("topic", spec.name, operation, "topics create"))
        return found
    for integration in settings.enabled_integrations():
        uuid = integration.uuid
        mutation_topics = [
            spec.name for spec in plan.of_kind(TopicKind.MUTATIONS) if uuid in spec.integrations
        ]
        retry = topics.retry_topic(uuid)
        dead_letters = topics.dead_letter_topic(uuid)
        group = topics.group_id(uuid)
        if role is Role.RUNTIME:
            found += [Grant("topic", name, "Read", "consume mutations") for name in mutation_topics]
            found += [
                Grant("topic", retry, "Read", "consume replayed dead letters"),
                Grant("group", group, "Read", "join the group, commit offsets"),
                Grant("topic", topics.mapping_topic(uuid), "Read", "restore and tail mappings"),
                Grant("topic", topics.mapping_topic(uuid), "Write", "write mappings"),
                Grant("topic", topics.mapping_topic(uuid), "DescribeConfigs", "check compaction"),
                Grant(
                    "group",
                    reader_group(topics.mapping_topic(uuid)),
                    "Describe",
                    "the mapping reader never joins its group, but librdkafka looks it up",
                ),
                Grant("topic", dead_letters, "Write", "write dead letters"),
                Grant("topic", dead_letters, "DescribeConfigs", "check it is not compacted"),
            ]
        else:
            mappings = topics.mapping_topic(uuid)
            read = [dead_letters, retry, *mutation_topics]
            found += [
                Grant("topic", dead_letters, "Read", "list, show and replay dead letters"),
                Grant("topic", retry, "Read", "find earlier replays"),
                Grant("topic", retry, "Write", "replay"),
                Grant("topic", retry, "DescribeConfigs", "check the replay target"),
                Grant("group", group, "Describe", "read the committed offsets"),
            ]
            found += [
                Grant("topic", name, "Read", "find newer mutations (superseded)")
                for name in mutation_topics
            ]
            found += [Grant("group", reader_group(name), "Describe", "read it") for name in read]
            found += [
                Grant("topic", mappings, "Read", "mappings get|count|export"),
                Grant("topic", mappings, "DescribeConfigs", "check compaction"),
                Grant("group", reader_group(mappings), "Describe", "read it"),
            ]
    return _unique(found)


def _unique(found: Iterable[Grant]) -> list[Grant]:
    seen: dict[tuple[str, str, str], Grant] = {}
    for grant in found:
        seen.setdefault((grant.resource, grant.name, grant.operation), grant)
    return list(seen.values())


def kafka_acls_command(principal: str, grant_list: Sequence[Grant]) -> list[str]:
    """``kafka-acls.sh --add`` lines granting `grant_list` to `principal`, one per resource."""
    by_resource: dict[tuple[str, str], list[str]] = {}
    for grant in grant_list:
        by_resource.setdefault((grant.resource, grant.name), []).append(grant.operation)
    lines = []
    for (resource, name), operations in by_resource.items():
        ops = " ".join(f"--operation {operation}" for operation in operations)
        lines.append(
            f"kafka-acls.sh --bootstrap-server $BOOTSTRAP --command-config admin.properties "
            f"--add --allow-principal {principal} {ops} --{resource} {name}"
        )
    return lines
