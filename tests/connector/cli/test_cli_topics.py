"""`iec-connector topics create` against the real broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from typer.testing import Result

Invoke = Callable[..., Result]
WriteConfig = Callable[[str], Path]


@pytest.fixture
def config_file(
    write_config: WriteConfig, driver_type: str, kafka_bootstrap: str, topic_prefix: str
) -> tuple[Path, str]:
    """A configuration with one integration of the test driver; returns (path, its uuid)."""
    integration_uuid = str(uuid.uuid4())
    path = write_config(
        f"""
        kafka:
          bootstrap_servers: {kafka_bootstrap}
        topics:
          mutation_prefix: {topic_prefix}.mutations
          mapping_prefix: {topic_prefix}.mappings
          dead_letter_prefix: {topic_prefix}.dlq
          retry_prefix: {topic_prefix}.retry
          partitions: 2
        integrations:
          - uuid: {integration_uuid}
            name: Shop
            driver: {driver_type}
        """
    )
    return path, integration_uuid


def statuses(output: str) -> list[str]:
    """The status word of each topic line (`created  mutations  <topic> (...)`)."""
    return [line.split()[0] for line in output.splitlines() if "(partitions " in line]


def topics_with(admin: AdminClient, topic_prefix: str) -> set[str]:
    return {name for name in admin.list_topics(timeout=10).topics if name.startswith(topic_prefix)}


def test_creates_topics_and_a_second_run_reports_them_existing(
    invoke: Invoke, admin: AdminClient, config_file: tuple[Path, str], topic_prefix: str
) -> None:
    path, integration_uuid = config_file

    first = invoke("topics", "create", "--config", path)
    second = invoke("topics", "create", "--config", path)

    expected = {
        f"{topic_prefix}.mutations.product",
        f"{topic_prefix}.mutations.category",
        f"{topic_prefix}.mappings.{integration_uuid}",
        f"{topic_prefix}.dlq.{integration_uuid}",
        f"{topic_prefix}.retry.{integration_uuid}",
    }
    assert first.exit_code == 0, first.output
    assert topics_with(admin, topic_prefix) == expected
    assert statuses(first.stdout) == ["created"] * 5
    assert first.stdout.splitlines()[-1] == "5 created"
    assert second.exit_code == 0, second.output
    assert statuses(second.stdout) == ["exists"] * 5


def test_dry_run_reports_and_creates_nothing(
    invoke: Invoke, admin: AdminClient, config_file: tuple[Path, str], topic_prefix: str
) -> None:
    result = invoke("topics", "create", "--config", config_file[0], "--dry-run")

    assert result.exit_code == 0, result.output
    assert statuses(result.stdout) == ["would-create"] * 5
    assert result.stdout.splitlines()[-1] == "dry run: 5 would-create"
    assert topics_with(admin, topic_prefix) == set()


def test_mapping_topic_with_delete_policy_exits_2_naming_it(
    invoke: Invoke, admin: AdminClient, config_file: tuple[Path, str], topic_prefix: str
) -> None:
    path, integration_uuid = config_file
    mapping_topic = f"{topic_prefix}.mappings.{integration_uuid}"
    new = NewTopic(mapping_topic, num_partitions=1, replication_factor=1)
    admin.create_topics([new], operation_timeout=30)[mapping_topic].result(timeout=30)

    result = invoke("topics", "create", "--config", path)

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{mapping_topic}: mismatch: cleanup.policy is 'delete', must be 'compact' "
        "(mappings would be lost)"
    ]
    assert len(topics_with(admin, topic_prefix)) == 5  # the others were still created
    assert sorted(statuses(result.stdout)) == ["created"] * 4 + ["mismatch"]


def test_unreachable_cluster_exits_1_without_secrets(
    invoke: Invoke, write_config: WriteConfig, driver_type: str
) -> None:
    path = write_config(
        f"""
        kafka:
          bootstrap_servers: 127.0.0.1:1
          security_protocol: SASL_PLAINTEXT
          sasl_mechanism: SCRAM-SHA-256
          sasl_username: connector
          sasl_password: cli-test-password
        integrations:
          - {{uuid: {uuid.uuid4()}, name: Shop, driver: {driver_type}}}
        """
    )

    result = invoke("topics", "create", "--config", path, "--timeout", "2")

    assert result.exit_code == 1
    assert "cannot reach the cluster" in result.stderr
    assert "cli-test-password" not in result.output
