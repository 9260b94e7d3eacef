"""Least privilege against the real broker's StandardAuthorizer: the runtime works with exactly
the ACLs `connector.acls` lists (and the README's "Security" section shows), and without any
one of them it fails clearly: refused at start, or its integration stopped, naming what."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_process import run_cli
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
)
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType
from prometheus_client import CollectorRegistry

from connector.acls import Grant, Role, grants
from connector.cli.failures import EXIT_CONFIGURATION, exit_code_of
from connector.codec import MutationCodec
from connector.config import ConnectorSettings
from connector.config.loading import settings_from_mapping
from connector.config.validation import check_integrations
from connector.driver_registry import DriverRegistry
from connector.local_kafka import SaslEndpoint
from connector.metrics import ConnectorMetrics
from connector.runtime.app import EXIT_FAILED, EXIT_OK, ConnectorApp
from connector.topic_admin import TopicPlan, apply_plan, plan_topics
from contracts import MutationData, Operation
from drivers.example import ExampleDriver

pytestmark = pytest.mark.kafka

REGISTRY = DriverRegistry.from_classes({"example": ExampleDriver})
MUTATIONS = 3
_OPERATIONS = {"DescribeConfigs": AclOperation.DESCRIBE_CONFIGS}
_RESOURCES = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}


@dataclass
class Cluster:
    settings: ConnectorSettings
    plan: TopicPlan
    admin: AdminClient
    principal: str
    bootstrap: str
    config_file: Path

    def binding(self, grant: Grant) -> AclBinding:
        operation = _OPERATIONS.get(grant.operation) or getattr(
            AclOperation, grant.operation.upper()
        )
        return AclBinding(
            _RESOURCES[grant.resource],
            grant.name,
            ResourcePatternType.LITERAL,
            self.principal,
            "*",
            operation,
            AclPermissionType.ALLOW,
        )

    def allow(self, granted: list[Grant]) -> None:
        for future in self.admin.create_acls([self.binding(g) for g in granted]).values():
            future.result(timeout=15)

    def revoke_all(self) -> None:
        filters = [
            AclBindingFilter(
                _RESOURCES[resource],
                name,
                ResourcePatternType.LITERAL,
                self.principal,
                "*",
                AclOperation.ANY,
                AclPermissionType.ANY,
            )
            for resource, name in {(g.resource, g.name) for role in Role for g in self.grants(role)}
        ]
        for future in self.admin.delete_acls(filters).values():
            future.result(timeout=15)

    def grants(self, role: Role = Role.RUNTIME) -> list[Grant]:
        return grants(role, self.settings, self.plan)

    def records(self, topic: str) -> int:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "acl-test-reader"})
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
            return int(high - low)
        finally:
            consumer.close()


@pytest.fixture
def cluster(
    kafka_runtime_sasl: SaslEndpoint, kafka_bootstrap: str, admin: AdminClient, tmp_path: Path
) -> Iterator[Cluster]:
    """Topics made by the admin (the topics job), mutations published, no ACL yet."""
    run = uuid.uuid4().hex[:10]
    data: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": kafka_runtime_sasl.bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": kafka_runtime_sasl.mechanism,
            "sasl_username": kafka_runtime_sasl.username,
            "sasl_password": kafka_runtime_sasl.password,
        },
        "topics": {
            "mutation_prefix": f"acl{run}.mutations",
            "mapping_prefix": f"acl{run}.mappings",
            "dead_letter_prefix": f"acl{run}.dead-letters",
            "retry_prefix": f"acl{run}.retry",
            "group_prefix": f"acl{run}.group",
            "partitions": 1,
        },
        "metrics": {"enabled": False},
        "runtime": {"shutdown_grace_ms": 5000},
        "integrations": [
            {
                "uuid": str(uuid.uuid4()),
                "name": "shop",
                "driver": "example",
                "entity_types": ["product"],
                "config": {"base_url": "https://shop.test", "api_key": "k-12345678"},
            }
        ],
    }
    settings = settings_from_mapping(data)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    plan = plan_topics(settings, REGISTRY)
    assert all(result.ok for result in apply_plan(admin, plan))
    codec = MutationCodec()
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    topic = settings.topics.mutation_topic("product")
    for n in range(MUTATIONS):
        mutation = MutationData(
            entity_type="product",
            entity_uuid=f"p-{n}",
            operation=Operation.CREATED,
            payload={"sku": f"SKU-{n}"},
        )
        producer.produce(topic, key=mutation.entity_uuid.encode(), value=codec.encode(mutation))
    producer.produce(topic, key=b"p-x", value=b"not a mutation")  # a dead letter
    assert producer.flush(10) == 0
    principal = f"User:{kafka_runtime_sasl.username}"
    found = Cluster(settings, plan, admin, principal, kafka_bootstrap, config_file)
    yield found
    found.revoke_all()
    for future in admin.delete_topics(plan.names(), operation_timeout=30).values():
        future.result(timeout=30)


async def _run(
    cluster: Cluster, done: Callable[[], bool], limit_s: float = 30.0
) -> tuple[int, str]:
    """Run the app until `done()` or until it fails; (the exit code `run` would give, what it
    said: the exception refusing the start, or its CRITICAL lines)."""
    settings = cluster.settings
    configs, problems = check_integrations(settings, REGISTRY)
    assert not problems
    app = ConnectorApp(
        settings,
        REGISTRY,
        configs,
        metrics=ConnectorMetrics(CollectorRegistry()),
        install_signal_handlers=False,
    )
    said: list[str] = []

    class Critical(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.CRITICAL:
                said.append(record.getMessage())

    handler = Critical()
    logging.getLogger("iec.runtime").addHandler(handler)
    task = asyncio.create_task(app.run())
    try:
        deadline = time.monotonic() + limit_s
        while not task.done() and time.monotonic() < deadline:
            if done() or said:  # finished, or an integration stopped (a CRITICAL line)
                break
            await asyncio.sleep(0.2)
        app.request_stop()
        try:
            code = await asyncio.wait_for(task, 30)
        except Exception as exc:  # refused at start: `run` exits with exit_code_of(exc)
            return exit_code_of(exc), str(exc)
        return code, " | ".join(said)
    finally:
        logging.getLogger("iec.runtime").removeHandler(handler)


async def test_the_runtime_works_with_exactly_the_documented_acls(cluster: Cluster) -> None:
    uuid_ = cluster.settings.integrations[0].uuid
    mappings = cluster.settings.topics.mapping_topic(uuid_)
    dead_letters = cluster.settings.topics.dead_letter_topic(uuid_)
    cluster.allow(cluster.grants())

    code, said = await _run(
        cluster,
        lambda: cluster.records(mappings) >= MUTATIONS and cluster.records(dead_letters) >= 1,
    )

    assert (code, said) == (EXIT_OK, "")
    assert cluster.records(mappings) == MUTATIONS
    assert cluster.records(dead_letters) == 1
    assert not any(g.operation in ("Create", "Delete", "Alter") for g in cluster.grants())

    # The operator's commands, as the same principal with the operator's ACLs only.
    cluster.revoke_all()
    cluster.allow(cluster.grants(Role.OPERATOR))
    given = ["--config", str(cluster.config_file), "--integration", "shop"]
    for command in (
        ["dead-letters", "list", *given],
        ["dead-letters", "show", "0", *given],
        ["dead-letters", "replay", *given],
        ["mappings", "count", *given],
        ["mappings", "get", "product", "p-0", *given],
        ["mappings", "export", *given],
    ):
        result = await asyncio.to_thread(_cli, command)
        assert result.returncode == 0, f"{command}: {result.stderr}"
    retry = cluster.settings.topics.retry_topic(uuid_)
    assert cluster.records(retry) == 1  # the replay was written


def _cli(command: list[str]) -> subprocess.CompletedProcess[str]:
    return run_cli(*command, columns=200)


async def test_topics_create_works_with_exactly_the_topics_job_acls(
    cluster: Cluster, admin: AdminClient
) -> None:
    # Topics of their own (the fixture's exist already), created by the same principal with
    # only the topics job's ACLs.
    data = yaml.safe_load(cluster.config_file.read_text())
    run = uuid.uuid4().hex[:10]
    data["topics"] = {
        **data["topics"],
        **{
            f"{kind}_prefix": f"acljob{run}.{kind}"
            for kind in ("mutation", "mapping", "dead_letter", "retry", "group")
        },
    }
    config_file = cluster.config_file.with_name("topics-job.yaml")
    config_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    settings = settings_from_mapping(data)
    plan = plan_topics(settings, REGISTRY)
    job = Cluster(settings, plan, admin, cluster.principal, cluster.bootstrap, config_file)
    job.allow(job.grants(Role.TOPICS_JOB))
    try:
        result = await asyncio.to_thread(_cli, ["topics", "create", "--config", str(config_file)])

        assert result.returncode == 0, result.stderr
        assert set(plan.names()) <= set(admin.list_topics(timeout=10).topics)
    finally:
        job.revoke_all()
        existing = set(admin.list_topics(timeout=10).topics)
        names = [name for name in plan.names() if name in existing]
        for future in admin.delete_topics(names, operation_timeout=30).values() if names else []:
            future.result(timeout=30)


async def test_without_any_one_documented_acl_the_runtime_fails_clearly(cluster: Cluster) -> None:
    every = cluster.grants()
    outcomes = []
    for missing in every:
        cluster.revoke_all()
        cluster.allow([g for g in every if g != missing])
        code, said = await _run(cluster, lambda: False)
        outcomes.append((missing, code, said))
    for missing, code, said in outcomes:
        what = f"without {missing.operation} on {missing.resource} {missing.name}: {said!r}"
        assert code in (EXIT_CONFIGURATION, EXIT_FAILED), what
        # The line names the resource (the mapping reader's group by its mapping topic) and
        # why: refused by the authorizer, or a topic it may not see is "missing".
        assert missing.name.removesuffix(".reader") in said, what
        assert "AUTHORIZATION_FAILED" in said or "missing topics" in said, what
