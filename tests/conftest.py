"""Shared fixtures: a real Kafka broker for the session, unique topics, an admin client.

Broker choice, first that applies: `KAFKA_BOOTSTRAP_SERVERS`; testcontainers' Kafka when a
Docker engine answers (extra `docker`); else the local broker of `connector.local_kafka`
(started for the session and stopped after it, unless it was already running).
Tests that use `kafka_bootstrap` get the `kafka` marker automatically.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from connector import local_kafka
from connector.local_kafka import SaslEndpoint, TlsEndpoint

_TOPIC_WAIT_SECONDS = 30.0


UniqueTopic = Callable[[str], str]
CreateTopics = Callable[..., list[str]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a broker `kafka`, so `-m "not kafka"` runs unit tests only."""
    broker_fixtures = {
        "kafka_bootstrap",
        "kafka_sasl",
        "kafka_tls",
        "kafka_runtime_sasl",
        "admin",
        "create_topics",
    }
    for item in items:
        if broker_fixtures.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kafka)


def _docker_engine_answers() -> bool:
    """True if a Docker engine answers a ping (the `docker` package comes with testcontainers)."""
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker  # type: ignore[import-not-found, import-untyped, unused-ignore]

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no SDK, no engine, no permission: all mean "no Docker"
        return False


@pytest.fixture(scope="session")
def _local_broker() -> Iterator[str]:
    """The local broker; stopped at the end only if this session started it."""
    was_running = local_kafka.is_running()
    bootstrap = local_kafka.ensure_running()
    yield bootstrap
    if not was_running and not os.environ.get("IEC_KAFKA_KEEP_RUNNING"):
        local_kafka.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    """Bootstrap address of a real Kafka broker for the whole session."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if _docker_engine_answers():
        from testcontainers.community.kafka import KafkaContainer

        image = os.environ.get("IEC_KAFKA_IMAGE", "confluentinc/cp-kafka:7.6.0")
        with KafkaContainer(image).with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    yield request.getfixturevalue("_local_broker")


@pytest.fixture(scope="session")
def kafka_sasl(request: pytest.FixtureRequest) -> SaslEndpoint:
    """A SASL/SCRAM listener: `KAFKA_SASL_BOOTSTRAP_SERVERS` (+ `KAFKA_SASL_USERNAME`,
    `KAFKA_SASL_PASSWORD`, `KAFKA_SASL_MECHANISM`), else the local broker's."""
    configured = os.environ.get("KAFKA_SASL_BOOTSTRAP_SERVERS")
    if configured:
        user = local_kafka.scram_user()
        return SaslEndpoint(
            bootstrap=configured,
            username=os.environ.get("KAFKA_SASL_USERNAME", user.username),
            password=os.environ.get("KAFKA_SASL_PASSWORD", user.password),
            mechanism=os.environ.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256"),
        )
    endpoint = local_kafka.sasl_endpoint()
    if endpoint is None:
        request.getfixturevalue("_local_broker")
        endpoint = local_kafka.sasl_endpoint()
    if endpoint is None:
        pytest.fail(
            "no SASL listener: the broker on port 9092 was not started by connector.local_kafka; "
            "set KAFKA_SASL_BOOTSTRAP_SERVERS (and KAFKA_SASL_USERNAME/PASSWORD/MECHANISM)"
        )
    return endpoint


_RESTART_HINT = (
    "restart the local broker with `python -m connector.local_kafka up --fresh` "
    "(it adds the SSL listeners, the authorizer and the `runtime` user)"
)


@pytest.fixture(scope="session")
def kafka_tls(request: pytest.FixtureRequest) -> TlsEndpoint:
    """The SSL listeners and test certificates: `KAFKA_SSL_BOOTSTRAP_SERVERS`,
    `KAFKA_MTLS_BOOTSTRAP_SERVERS` (client certificate required), `KAFKA_SSL_CA_LOCATION`,
    `KAFKA_SSL_CERTIFICATE_LOCATION`, `KAFKA_SSL_KEY_LOCATION`; else the local broker's.
    Fails (never skips) when the broker has no SSL listener."""
    names = (
        "KAFKA_SSL_BOOTSTRAP_SERVERS",
        "KAFKA_MTLS_BOOTSTRAP_SERVERS",
        "KAFKA_SSL_CA_LOCATION",
        "KAFKA_SSL_CERTIFICATE_LOCATION",
        "KAFKA_SSL_KEY_LOCATION",
    )
    values = [os.environ.get(name) for name in names]
    if all(values):
        ssl, mtls, ca, cert, key = (str(value) for value in values)
        return TlsEndpoint(ssl, mtls, Path(ca), Path(cert), Path(key))
    request.getfixturevalue("kafka_bootstrap")
    endpoint = local_kafka.tls_endpoint()
    if endpoint is None:
        pytest.fail(
            "the Kafka broker has no SSL listeners: set " + ", ".join(names) + ", or "
            + _RESTART_HINT
        )  # fmt: skip
    return endpoint


@pytest.fixture(scope="session")
def kafka_runtime_sasl(kafka_sasl: SaslEndpoint) -> SaslEndpoint:
    """The SASL listener with the unprivileged `runtime` user (`KAFKA_RUNTIME_USERNAME`,
    `KAFKA_RUNTIME_PASSWORD`) on a broker whose authorizer checks ACLs; fails (never skips)
    when the local broker runs without the authorizer."""
    broker = local_kafka.running_broker()
    ours = broker is not None and broker.sasl_bootstrap == kafka_sasl.bootstrap
    if ours and broker is not None and not broker.authorizer:
        pytest.fail(f"the Kafka broker runs without an authorizer: {_RESTART_HINT}")
    user = local_kafka.runtime_scram_user()
    return kafka_sasl._replace(
        username=os.environ.get("KAFKA_RUNTIME_USERNAME", user.username),
        password=os.environ.get("KAFKA_RUNTIME_PASSWORD", user.password),
    )


@pytest.fixture(scope="session")
def schema_registry_url() -> Iterator[str]:
    """A real Confluent-compatible schema registry: `SCHEMA_REGISTRY_URL`, else the local
    Apicurio registry of `connector.local_kafka` (started for the session and stopped after
    it unless it was already running or `IEC_KAFKA_KEEP_RUNNING=1`). Tests use subjects of
    their own unique topics."""
    configured = os.environ.get("SCHEMA_REGISTRY_URL")
    if configured:
        yield configured
        return
    running = local_kafka.running_registry()
    if running is not None:
        yield running.url
        return
    url = local_kafka.ensure_registry()
    yield url
    if not os.environ.get("IEC_KAFKA_KEEP_RUNNING"):
        local_kafka.stop_registry()


@pytest.fixture(scope="session")
def admin(kafka_bootstrap: str) -> AdminClient:
    """An AdminClient on the session's broker."""
    return AdminClient({"bootstrap.servers": kafka_bootstrap})


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest) -> UniqueTopic:
    """`unique_topic("product")` → a topic name no other test (or run) uses."""
    test_name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:80].strip("-.")

    def make(label: str) -> str:
        safe_label = re.sub(r"[^A-Za-z0-9._-]+", "-", label)[:60]
        return f"test.{test_name}.{safe_label}.{uuid.uuid4().hex[:10]}"

    return make


@pytest.fixture
def create_topics(admin: AdminClient) -> Iterator[CreateTopics]:
    """`create_topics(names, partitions=1, config={...})` creates topics and waits until every
    partition has a leader; the topics are deleted after the test."""
    created: list[str] = []

    def create(
        names: Sequence[str], partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> list[str]:
        new_topics = [
            NewTopic(
                name, num_partitions=partitions, replication_factor=1, config=dict(config or {})
            )
            for name in names
        ]
        for name, future in admin.create_topics(new_topics, operation_timeout=30).items():
            future.result(timeout=_TOPIC_WAIT_SECONDS)
            created.append(name)
        _wait_for_leaders(admin, list(names), partitions)
        return list(names)

    yield create
    if created:
        for future in admin.delete_topics(created, operation_timeout=30).values():
            future.result(timeout=_TOPIC_WAIT_SECONDS)


def _wait_for_leaders(admin: AdminClient, names: list[str], partitions: int) -> None:
    """Block until metadata shows every partition of `names` with a leader."""
    deadline = time.monotonic() + _TOPIC_WAIT_SECONDS
    while True:
        metadata: Any = admin.list_topics(timeout=10)
        ready = all(
            name in metadata.topics
            and metadata.topics[name].error is None
            and len(metadata.topics[name].partitions) == partitions
            and all(p.leader >= 0 for p in metadata.topics[name].partitions.values())
            for name in names
        )
        if ready:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {names} have no leader after {_TOPIC_WAIT_SECONDS} s")
        time.sleep(0.1)
