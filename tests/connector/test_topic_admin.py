"""Topic planning (pure) and creation against the real broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType
from confluent_kafka.cimpl import NewTopic
from pydantic import BaseModel

from connector.config import ConnectorSettings
from connector.driver_registry import DriverRegistry
from connector.topic_admin import (
    TopicKind,
    TopicPlan,
    TopicStatus,
    apply_plan,
    check_plan,
    mapping_topic_config,
    plan_topics,
)
from contracts import AbstractDriver, ConfigurationSchema, ConfigValidationError, MutationData

MakeSettings = Callable[..., ConnectorSettings]


class NoConfig(BaseModel):
    pass


class CatalogDriver(AbstractDriver):
    supported_entity_types = ("product", "category")

    def get_name(self) -> str:
        return "Catalog"

    def get_type(self) -> str:
        return "catalog"

    def get_version(self) -> str:
        return "1.0.0"

    def handle(self, mutation: MutationData) -> None:
        return None

    def get_configuration_schema(self) -> ConfigurationSchema:
        return NoConfig


@pytest.fixture
def registry() -> DriverRegistry:
    return DriverRegistry.from_classes({"catalog": CatalogDriver})


def integration(driver: str = "catalog", **fields: Any) -> dict[str, Any]:
    return {"uuid": str(uuid.uuid4()), "name": "I", "driver": driver, **fields}


@pytest.fixture
def make_settings() -> MakeSettings:
    """Settings whose topic prefixes belong to this test alone."""
    token = uuid.uuid4().hex[:10]

    def make(*integrations: dict[str, Any], **topics: Any) -> ConnectorSettings:
        prefixes = {
            "mutation_prefix": f"test.{token}.mutations",
            "mapping_prefix": f"test.{token}.mappings",
            "dead_letter_prefix": f"test.{token}.dlq",
            "retry_prefix": f"test.{token}.retry",
            "partitions": 3,
        }
        return ConnectorSettings(topics=prefixes | topics, integrations=list(integrations))

    return make


@pytest.fixture
def delete_after(admin: AdminClient) -> Iterator[Callable[[TopicPlan], None]]:
    """`delete_after(plan)`: the plan's topics are deleted when the test ends."""
    names: set[str] = set()
    yield lambda plan: names.update(plan.names())
    existing = set(admin.list_topics(timeout=10).topics)
    doomed = sorted(names & existing)
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=30).values():
            future.result(timeout=30)


def topic_configs(admin: AdminClient, name: str) -> dict[str, str | None]:
    resource = ConfigResource(ResourceType.TOPIC, name)
    entries = admin.describe_configs([resource])[resource].result(timeout=30)
    return {key: entry.value for key, entry in entries.items()}


# -- planning (no broker) -------------------------------------------------------------------


def test_plan_has_mutation_topics_for_the_union_of_entity_types_then_per_integration_topics(
    make_settings: MakeSettings, registry: DriverRegistry
) -> None:
    first = integration(entity_types=["product"])
    second = integration()  # all the driver supports: product, category
    off = integration(entity_types=["family"], enabled=False)
    settings = make_settings(first, second, off)

    plan = plan_topics(settings, registry)

    mutations = plan.of_kind(TopicKind.MUTATIONS)
    assert [spec.name for spec in mutations] == [
        settings.topics.mutation_topic("category"),
        settings.topics.mutation_topic("product"),
    ]
    assert mutations[1].integrations == (first["uuid"], second["uuid"])
    assert all(spec.partitions == 3 for spec in mutations)
    for kind, name_of in (
        (TopicKind.MAPPINGS, settings.topics.mapping_topic),
        (TopicKind.DEAD_LETTERS, settings.topics.dead_letter_topic),
        (TopicKind.RETRY, settings.topics.retry_topic),
    ):
        specs = plan.of_kind(kind)
        assert [spec.name for spec in specs] == [name_of(first["uuid"]), name_of(second["uuid"])]
        assert all(spec.partitions == 1 for spec in specs)


def test_planned_configs_fit_each_kind_of_topic(
    make_settings: MakeSettings, registry: DriverRegistry
) -> None:
    plan = plan_topics(make_settings(integration()), registry)

    by_kind = {spec.kind: spec.config for spec in plan.topics}
    assert by_kind[TopicKind.MAPPINGS] == mapping_topic_config()
    assert by_kind[TopicKind.MAPPINGS]["cleanup.policy"] == "compact"
    assert by_kind[TopicKind.MUTATIONS]["retention.ms"] == str(7 * 86_400_000)
    assert by_kind[TopicKind.DEAD_LETTERS]["retention.ms"] == str(30 * 86_400_000)
    assert by_kind[TopicKind.DEAD_LETTERS]["cleanup.policy"] == "delete"
    assert all(config["message.timestamp.type"] == "CreateTime" for config in by_kind.values())
    assert all("min.insync.replicas" not in config for config in by_kind.values())


@pytest.mark.parametrize(("replication_factor", "min_isr"), [(2, "1"), (3, "2"), (5, "2")])
def test_min_insync_replicas_is_set_only_when_replicated(
    make_settings: MakeSettings, registry: DriverRegistry, replication_factor: int, min_isr: str
) -> None:
    plan = plan_topics(
        make_settings(integration(), replication_factor=replication_factor), registry
    )

    assert {spec.config["min.insync.replicas"] for spec in plan.topics} == {min_isr}
    assert {spec.replication_factor for spec in plan.topics} == {replication_factor}


def test_plan_names_integrations_with_unknown_drivers(
    make_settings: MakeSettings, registry: DriverRegistry
) -> None:
    settings = make_settings(integration(), integration(driver="magento"))

    with pytest.raises(ConfigValidationError) as caught:
        plan_topics(settings, registry)

    (problem,) = caught.value.problems
    assert problem.path == "integrations[1].driver"
    assert "known types: catalog" in problem.message


# -- against the broker ----------------------------------------------------------------------


def test_creates_every_topic_with_its_declared_settings_then_finds_them_existing(
    admin: AdminClient,
    make_settings: MakeSettings,
    registry: DriverRegistry,
    delete_after: Callable[[TopicPlan], None],
) -> None:
    plan = plan_topics(make_settings(integration()), registry)
    delete_after(plan)

    first = apply_plan(admin, plan)
    second = apply_plan(admin, plan)

    assert [r.status for r in first] == [TopicStatus.CREATED] * len(plan.topics)
    assert [r.status for r in second] == [TopicStatus.EXISTS] * len(plan.topics)
    assert all(r.drift == {} and r.detail == "" for r in second)
    metadata = admin.list_topics(timeout=10)
    for spec in plan.topics:
        assert len(metadata.topics[spec.name].partitions) == spec.partitions
        actual = topic_configs(admin, spec.name)
        assert {key: actual[key] for key in spec.config} == dict(spec.config)


def test_dry_run_creates_nothing(
    admin: AdminClient,
    make_settings: MakeSettings,
    registry: DriverRegistry,
    delete_after: Callable[[TopicPlan], None],
) -> None:
    plan = plan_topics(make_settings(integration()), registry)
    delete_after(plan)

    results = apply_plan(admin, plan, dry_run=True)

    assert {r.status for r in results} == {TopicStatus.WOULD_CREATE}
    assert not set(plan.names()) & set(admin.list_topics(timeout=10).topics)


def test_existing_mapping_topic_that_is_not_compacted_is_a_mismatch(
    admin: AdminClient,
    make_settings: MakeSettings,
    registry: DriverRegistry,
    delete_after: Callable[[TopicPlan], None],
) -> None:
    plan = plan_topics(make_settings(integration()), registry)
    delete_after(plan)
    (mapping,) = plan.of_kind(TopicKind.MAPPINGS)
    (mutation, *_) = plan.of_kind(TopicKind.MUTATIONS)
    pre_created = [
        NewTopic(mapping.name, num_partitions=1, replication_factor=1, config={}),
        NewTopic(
            mutation.name,
            num_partitions=2,
            replication_factor=1,
            config={"retention.ms": "3600000"},
        ),
    ]
    for future in admin.create_topics(pre_created, operation_timeout=30).values():
        future.result(timeout=30)
    # The controller answers before this broker's metadata has the topics (a wider gap with
    # an authorizer); "existing" means the broker lists them.
    for _ in range(100):
        if {mapping.name, mutation.name} <= set(admin.list_topics(timeout=10).topics):
            break
        time.sleep(0.1)

    results = {r.spec.name: r for r in apply_plan(admin, plan)}

    bad = results[mapping.name]
    assert bad.status == TopicStatus.MISMATCH
    assert not bad.ok
    assert "cleanup.policy is 'delete', must be 'compact'" in bad.detail
    drifted = results[mutation.name]
    assert drifted.status == TopicStatus.EXISTS
    assert drifted.drift == {"retention.ms": (str(7 * 86_400_000), "3600000")}
    assert "2 partitions (declared 3)" in drifted.detail
    others = [r for name, r in results.items() if name not in (mapping.name, mutation.name)]
    assert {r.status for r in others} == {TopicStatus.CREATED}


def test_created_topics_have_their_partition_leaders_when_apply_plan_returns(
    admin: AdminClient,
    make_settings: MakeSettings,
    registry: DriverRegistry,
    delete_after: Callable[[TopicPlan], None],
) -> None:
    plan = plan_topics(make_settings(integration()), registry)
    delete_after(plan)

    apply_plan(admin, plan)

    # No waiting here: a client using the topics at once must not meet NOT_LEADER.
    metadata = admin.list_topics(timeout=10)
    for spec in plan.topics:
        partitions = metadata.topics[spec.name].partitions.values()
        assert all(p.leader >= 0 for p in partitions), spec.name


def test_check_plan_reports_missing_and_miscompacted_topics_and_creates_nothing(
    admin: AdminClient,
    make_settings: MakeSettings,
    registry: DriverRegistry,
    delete_after: Callable[[TopicPlan], None],
) -> None:
    plan = plan_topics(make_settings(integration()), registry)
    delete_after(plan)
    (mapping,) = plan.of_kind(TopicKind.MAPPINGS)
    (dead_letters,) = plan.of_kind(TopicKind.DEAD_LETTERS)
    pre_created = [
        NewTopic(mapping.name, num_partitions=1, replication_factor=1, config={}),
        NewTopic(
            dead_letters.name,
            num_partitions=1,
            replication_factor=1,
            config=dict(dead_letters.config),
        ),
    ]
    for future in admin.create_topics(pre_created, operation_timeout=30).values():
        future.result(timeout=30)
    deadline = time.monotonic() + 30
    while not {mapping.name, dead_letters.name} <= set(admin.list_topics(timeout=10).topics):
        assert time.monotonic() < deadline, "the created topics never showed in the metadata"
        time.sleep(0.05)

    results = {r.spec.name: r for r in check_plan(admin, plan)}

    assert results[mapping.name].status is TopicStatus.MISMATCH
    assert results[dead_letters.name].status is TopicStatus.EXISTS
    others = [r for name, r in results.items() if name not in (mapping.name, dead_letters.name)]
    assert others
    assert {r.status for r in others} == {TopicStatus.WOULD_CREATE}
    assert not {r.spec.name for r in others} & set(admin.list_topics(timeout=10).topics)
