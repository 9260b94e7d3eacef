"""Replay against the real broker: retry topic, superseded records, double replays, dry run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from registry_stub import RegistryStub
from typer.testing import CliRunner

from connector.cli.dead_letters_cmd import app
from connector.codec import Framing, MutationCodec
from connector.dead_letters import (
    DeadLetterContext,
    DeadLetterProducer,
    Failure,
    Reason,
    ReplayFilter,
    ReplayTargets,
    Stage,
    dead_letter_headers,
    replay,
)
from connector.dead_letters.headers import Header, header_value
from connector.kafka.records import ConsumedRecord
from connector.redaction import Redactor
from connector.topics import TopicSettings
from contracts import MutationData, Operation
from schemas import schema_text

if TYPE_CHECKING:
    from connector.local_kafka import SaslEndpoint
    from tests.conftest import CreateTopics, UniqueTopic
    from tests.connector.dead_letters.conftest import ReadTopic

# (key, operation) of the mutations at offsets 0..4 of the origin partition.
MUTATIONS = [
    ("e-1", Operation.CREATED),
    ("e-2", Operation.UPDATED),
    ("e-1", Operation.UPDATED),
    ("e-3", Operation.UPDATED),
    ("e-3", Operation.DELETED),
]
DEAD = (0, 1, 3, 4)  # origin offsets that failed; e-1@0 is superseded by e-1@2 (handled)


@dataclass
class Scenario:
    bootstrap: str
    topics: TopicSettings
    targets: ReplayTargets
    origin: str
    integration: str
    read: ReadTopic

    @property
    def config(self) -> dict[str, str]:
        return {"bootstrap.servers": self.bootstrap}

    def config_file(self, path: Path, **sections: Any) -> Path:
        """A configuration naming these topics and the integration ("shop-eu"); `sections`
        add to or replace sections (default `kafka`: this broker in plaintext)."""
        data = {
            "kafka": {"bootstrap_servers": self.bootstrap},
            "topics": self.topics.model_dump(exclude={"mapping_prefix"}),
            "integrations": [
                {"uuid": self.integration, "name": "shop-eu", "driver": "magento2"},
                {"uuid": str(uuid.uuid4()), "name": "erp", "driver": "sap"},
            ],
            **sections,
        }
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return path

    def cli(self, *args: str) -> list[str]:
        return [
            *args,
            "--integration", self.integration,
            "--bootstrap-servers", self.bootstrap,
            "--dead-letter-prefix", self.topics.dead_letter_prefix,
            "--retry-prefix", self.topics.retry_prefix,
            "--group-prefix", self.topics.group_prefix,
        ]  # fmt: skip


@pytest.fixture
async def scenario(
    kafka_bootstrap: str,
    unique_topic: UniqueTopic,
    create_topics: CreateTopics,
    admin: AdminClient,
    read_back: ReadTopic,
) -> AsyncIterator[Scenario]:
    """Mutations at origin offsets 0..4, dead letters for 0, 1, 3, 4, group committed at 5.

    1. Publish the mutations (encoded as the runtime would read them).
    2. Dead-letter four of them through `DeadLetterProducer`, as the runtime would.
    3. Commit the integration group's offset past all of them.
    """
    integration = str(uuid.uuid4())
    topics = TopicSettings(
        mutation_prefix=unique_topic("mut"),
        dead_letter_prefix=unique_topic("dlq"),
        retry_prefix=unique_topic("retry"),
        group_prefix=unique_topic("group"),
    )
    targets = ReplayTargets.of(integration, topics)
    origin = topics.mutation_topic("product")
    create_topics([origin, targets.dead_letter_topic, targets.retry_topic])
    config = {"bootstrap.servers": kafka_bootstrap}
    # 1. mutations
    codec = MutationCodec()
    producer = Producer(config)
    for key, operation in MUTATIONS:
        mutation = MutationData(entity_type="product", entity_uuid=key, operation=operation)
        producer.produce(
            origin, key=key.encode(), value=codec.encode(mutation), headers=[("source", b"pim")]
        )
    assert producer.flush(10) == 0
    # 2. dead letters
    context = DeadLetterContext(integration, "shop-eu", targets.group_id, "magento2", "1.4.0")
    dlq = DeadLetterProducer(config, targets.dead_letter_topic, integration_uuid=integration)
    try:
        for msg in read_back(origin):
            if msg.offset() not in DEAD:
                continue
            record = ConsumedRecord(
                msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(),
                msg.headers(), msg.timestamp()[1], entity_type="product",
                mutation=codec.decode(msg.value()),
            )  # fmt: skip
            try:
                raise ValueError(f"sku rejected for {msg.key().decode()}")
            except ValueError as exc:
                error = exc
            headers = dead_letter_headers(record, Failure(Stage.HANDLE, error), context, Redactor())
            await dlq.send(record, headers)
    finally:
        dlq.close()
    # 3. committed offset
    group = Consumer({**config, "group.id": targets.group_id, "enable.auto.commit": False})
    try:
        group.commit(offsets=[TopicPartition(origin, 0, len(MUTATIONS))], asynchronous=False)
    finally:
        group.close()
    yield Scenario(kafka_bootstrap, topics, targets, origin, integration, read_back)
    for future in admin.delete_consumer_groups([targets.group_id]).values():
        future.result(timeout=30)


def _decisions(report: Any) -> list[tuple[int | None, Reason]]:
    return [(d.dead_letter.origin_offset, d.reason) for d in report.decisions]


async def test_dry_run_plans_but_publishes_nothing(scenario: Scenario) -> None:
    report = replay(
        scenario.config, scenario.targets, ReplayFilter(scenario.integration), dry_run=True
    )

    assert _decisions(report) == [
        (0, Reason.SUPERSEDED),
        (1, Reason.REPLAY),
        (3, Reason.REPLAY),  # e-3@4 is newer but failed too: not a supersession
        (4, Reason.REPLAY),
    ]
    assert report.decisions[0].detail == f"{scenario.origin}/0/2 has the same key"
    assert report.published == {}
    assert scenario.read(scenario.targets.retry_topic) == []


async def test_replay_publishes_to_the_retry_topic_once(scenario: Scenario) -> None:
    selection = ReplayFilter(scenario.integration)
    at = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)

    report = replay(scenario.config, scenario.targets, selection, now=lambda: at)

    assert report.failed == {}
    retried = scenario.read(scenario.targets.retry_topic)
    assert [m.key() for m in retried] == [b"e-2", b"e-3", b"e-3"]
    origin = {m.offset(): m for m in scenario.read(scenario.origin)}
    dead = {m.offset(): m for m in scenario.read(scenario.targets.dead_letter_topic)}
    for msg, origin_offset, dlq_offset in zip(retried, (1, 3, 4), (1, 2, 3), strict=True):
        assert msg.value() == origin[origin_offset].value()
        headers = msg.headers()
        assert headers[0] == ("source", b"pim")
        assert not any(name.startswith("iec.dlt.") for name, _ in headers)
        assert (
            header_value(headers, Header.REPLAY_OF)
            == f"{scenario.targets.dead_letter_topic}/0/{dlq_offset}"
        )
        assert header_value(headers, Header.REPLAY_AT) == "2025-06-01T09:30:00.000+00:00"
        assert header_value(headers, Header.REPLAY_COUNT) == "1"
        assert header_value(headers, Header.REPLAY_ORIGIN_TOPIC) == scenario.origin
        assert header_value(headers, Header.REPLAY_ORIGIN_PARTITION) == "0"
        assert header_value(headers, Header.REPLAY_ORIGIN_OFFSET) == str(origin_offset)
        assert header_value(headers, Header.REPLAY_ORIGIN_TIMESTAMP) == str(
            origin[origin_offset].timestamp()[1]
        )
        assert report.published[
            f"{scenario.targets.dead_letter_topic}/0/{dead[dlq_offset].offset()}"
        ] == (f"{scenario.targets.retry_topic}/0/{msg.offset()}")

    again = replay(scenario.config, scenario.targets, selection)

    assert _decisions(again) == [
        (0, Reason.SUPERSEDED),
        (1, Reason.ALREADY_REPLAYED),
        (3, Reason.ALREADY_REPLAYED),
        (4, Reason.ALREADY_REPLAYED),
    ]
    assert again.published == {}
    assert len(scenario.read(scenario.targets.retry_topic)) == 3


async def test_overrides_replay_superseded_and_repeated_ones(scenario: Scenario) -> None:
    selection = ReplayFilter(scenario.integration, entity_type="product")
    replay(
        scenario.config,
        scenario.targets,
        ReplayFilter(scenario.integration, error_class="ValueError"),
    )

    report = replay(
        scenario.config, scenario.targets, selection, include_superseded=True, force=True
    )

    assert [r for _, r in _decisions(report)] == [
        Reason.REPLAY,
        Reason.FORCED,
        Reason.FORCED,
        Reason.FORCED,
    ]
    assert [m.key() for m in scenario.read(scenario.targets.retry_topic)] == [
        b"e-2", b"e-3", b"e-3", b"e-1", b"e-2", b"e-3", b"e-3",
    ]  # fmt: skip


async def test_filters_limit_what_is_replayed(scenario: Scenario) -> None:
    none = replay(
        scenario.config, scenario.targets, ReplayFilter(scenario.integration, stage="decode")
    )
    assert none.decisions == []
    other = replay(scenario.config, scenario.targets, ReplayFilter(str(uuid.uuid4())))
    assert other.decisions == []
    assert scenario.read(scenario.targets.retry_topic) == []


async def test_cli_lists_shows_and_replays(scenario: Scenario) -> None:
    runner = CliRunner(env={"COLUMNS": "250"})

    listed = runner.invoke(app, scenario.cli("list"))
    assert listed.exit_code == 0, listed.output
    assert "4 of 4" in listed.output
    assert "sku rejected for e-3" in listed.output

    shown = runner.invoke(app, scenario.cli("show", "1"))
    assert shown.exit_code == 0, shown.output
    assert "iec.dlt.origin.offset" in shown.output
    assert '"entity_uuid": "e-2"' in shown.output  # the decoded mutation
    assert "Traceback" in shown.output

    missing = runner.invoke(app, scenario.cli("show", "99"))
    assert missing.exit_code == 3

    dry = runner.invoke(app, scenario.cli("replay", "--dry-run"))
    assert dry.exit_code == 0, dry.output
    assert "would replay 3, skipped 1 (superseded by a newer handled mutation)" in dry.output
    assert scenario.read(scenario.targets.retry_topic) == []

    done = runner.invoke(app, scenario.cli("replay", "--since", "1h"))
    assert done.exit_code == 0, done.output
    assert "replayed 3, skipped 1" in done.output
    assert len(scenario.read(scenario.targets.retry_topic)) == 3

    bad = runner.invoke(app, scenario.cli("replay", "--since", "last tuesday"))
    assert bad.exit_code == 2


async def test_cli_with_a_config_finds_the_topics_and_the_integration_by_name(
    scenario: Scenario, tmp_path: Path
) -> None:
    config = scenario.config_file(tmp_path / "config.yaml")
    # The config names the cluster: the variable neither wins nor counts as a given option.
    runner = CliRunner(env={"COLUMNS": "250", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    given = ["--config", str(config), "--integration", "shop-eu"]

    listed = runner.invoke(app, ["list", *given, "--stage", "handle"])
    shown = runner.invoke(app, ["show", "1", *given])
    done = runner.invoke(app, ["replay", *given])

    assert listed.exit_code == 0, listed.output
    assert "4 of 4" in listed.output
    assert shown.exit_code == 0, shown.output
    assert '"entity_uuid": "e-2"' in shown.output
    assert done.exit_code == 0, done.output
    assert "replayed 3, skipped 1" in done.output
    assert len(scenario.read(scenario.targets.retry_topic)) == 3


async def test_cli_replays_through_a_sasl_config_and_never_prints_the_password(
    scenario: Scenario, kafka_sasl: SaslEndpoint, tmp_path: Path
) -> None:
    kafka = {
        "bootstrap_servers": kafka_sasl.bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": kafka_sasl.mechanism,
        "sasl_username": kafka_sasl.username,
        "sasl_password": "${TEST_SASL_PASSWORD}",
    }
    config = scenario.config_file(tmp_path / "sasl.yaml", kafka=kafka)
    runner = CliRunner(env={"COLUMNS": "250", "TEST_SASL_PASSWORD": kafka_sasl.password})

    done = runner.invoke(app, ["replay", "--config", str(config), "-i", scenario.integration])

    assert done.exit_code == 0, done.output
    assert "replayed 3, skipped 1" in done.output
    assert len(scenario.read(scenario.targets.retry_topic)) == 3
    assert kafka_sasl.password not in done.output


async def test_cli_show_decodes_with_the_configured_schema_registry(
    scenario: Scenario, tmp_path: Path
) -> None:
    registry = RegistryStub()
    try:
        subject = f"{scenario.origin}-value"
        registry.routes["POST", f"/subjects/{subject}/versions"] = (200, {"id": 7})
        registry.routes["GET", "/schemas/ids/7"] = (200, {"schema": schema_text("mutation_data")})
        codec = MutationCodec(
            framing=Framing.CONFLUENT,
            schema_registry_client=registry.client(),
            topics=scenario.topics,
        )
        mutation = MutationData(
            entity_type="product", entity_uuid="e-9", operation=Operation.CREATED
        )
        producer = Producer(scenario.config)
        producer.produce(
            scenario.targets.dead_letter_topic, key=b"e-9", value=codec.encode(mutation)
        )
        assert producer.flush(10) == 0
        registry_settings = {
            "url": registry.url,
            "basic_auth_user": "cli",
            "basic_auth_password": "registry-Pa55word-4711",
        }
        config = scenario.config_file(tmp_path / "registry.yaml", schema_registry=registry_settings)
        runner = CliRunner(env={"COLUMNS": "250"})

        with_registry = runner.invoke(app, ["show", "4", "--config", str(config), "-i", "shop-eu"])
        without = runner.invoke(app, scenario.cli("show", "4"))
    finally:
        registry.close()

    assert with_registry.exit_code == 0, with_registry.output
    assert '"entity_uuid": "e-9"' in with_registry.output
    assert "registry-Pa55word-4711" not in with_registry.output
    assert without.exit_code == 0, without.output
    assert "not decodable here" in without.output


async def test_replay_refuses_any_target_but_the_integrations_retry_topic(
    scenario: Scenario,
    unique_topic: UniqueTopic,
    create_topics: CreateTopics,
    tmp_path: Path,
) -> None:
    # A compacted topic where a wrong --retry-prefix points: a mapping topic, as it happened.
    compacted_prefix = unique_topic("mappings")
    compacted = f"{compacted_prefix}.{scenario.integration}"
    create_topics([compacted], config={"cleanup.policy": "compact"})
    runner = CliRunner(env={"COLUMNS": "250"})
    base = [
        "--integration", scenario.integration,
        "--bootstrap-servers", scenario.bootstrap,
        "--dead-letter-prefix", scenario.topics.dead_letter_prefix,
        "--group-prefix", scenario.topics.group_prefix,
    ]  # fmt: skip

    # A delete-policy topic named <anything>.<uuid> that holds other records: here a copy of
    # the dead-letter topic under another prefix (a dead-letter archive).
    archive_prefix = unique_topic("dlq-archive")
    archive = f"{archive_prefix}.{scenario.integration}"
    create_topics([archive], config={"cleanup.policy": "delete"})
    producer = Producer(scenario.config)
    for msg in scenario.read(scenario.targets.dead_letter_topic)[:1]:
        producer.produce(archive, key=msg.key(), value=msg.value(), headers=msg.headers())
    assert producer.flush(10) == 0

    into_archive = runner.invoke(app, ["replay", *base, "--retry-prefix", archive_prefix])
    into_compacted = runner.invoke(app, ["replay", *base, "--retry-prefix", compacted_prefix])
    into_missing = runner.invoke(app, ["replay", *base, "--retry-prefix", unique_topic("gone")])
    into_dead_letters = runner.invoke(
        app, ["replay", *base, "--retry-prefix", scenario.topics.dead_letter_prefix]
    )
    dry_run = runner.invoke(app, ["replay", *base, "--retry-prefix", compacted_prefix, "--dry-run"])
    topics = scenario.topics.model_copy(update={"retry_prefix": compacted_prefix})
    config = scenario.config_file(
        tmp_path / "config.yaml", topics=topics.model_dump(exclude={"mapping_prefix"})
    )
    with_config = runner.invoke(app, ["replay", "--config", str(config), "-i", "shop-eu"])

    for result, reason in (
        (into_compacted, "cleanup.policy=compact"),
        (into_archive, "holds 1 record(s) that are not replays"),
        (into_missing, "does not exist"),
        (into_dead_letters, "another topic of integration"),
        (dry_run, "cleanup.policy=compact"),
        (with_config, "cleanup.policy=compact"),
    ):
        assert result.exit_code == 2, result.output
        assert "refusing to replay" in result.output
        assert reason in result.output
        assert "Traceback" not in result.output
    assert scenario.read(compacted) == []
    assert len(scenario.read(archive)) == 1  # nothing replayed into it
    assert len(scenario.read(scenario.targets.dead_letter_topic)) == 4  # untouched


@pytest.mark.parametrize("command", [["list"], ["show", "0"], ["replay", "--dry-run"]])
def test_a_missing_dead_letter_topic_is_exit_2_naming_it_not_an_empty_list(
    command: list[str],
    kafka_bootstrap: str,
    unique_topic: UniqueTopic,
    create_topics: CreateTopics,
    admin: AdminClient,
) -> None:
    # a wrong --dead-letter-prefix (or uuid) must not read as "no dead letters"
    integration = str(uuid.uuid4())
    retry_prefix = unique_topic("retry")
    if command[0] == "replay":  # the retry topic is checked first: let it pass
        create_topics([f"{retry_prefix}.{integration}"], config={"cleanup.policy": "delete"})
    wrong_prefix = unique_topic("wrong-dlt")
    result = CliRunner().invoke(
        app,
        [
            *command,
            "--integration", integration,
            "--bootstrap-servers", kafka_bootstrap,
            "--dead-letter-prefix", wrong_prefix,
            "--retry-prefix", retry_prefix,
        ],
    )  # fmt: skip

    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert f"dead-letter topic '{wrong_prefix}.{integration}' does not exist" in line
    assert "iec-connector topics create" in line
    assert f"{wrong_prefix}.{integration}" not in admin.list_topics(timeout=10).topics
