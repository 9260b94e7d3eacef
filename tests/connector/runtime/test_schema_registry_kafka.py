"""The schema-registry framing end to end: a real registry (Apicurio's Confluent-compatible
API), the real broker, the connector in process, with exact accounting.

`mock://` registries stay in the codec's unit tests; here every lookup is an HTTP call.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from connector_env import ConnectorEnv, product_mutations, run_until
from prometheus_client import CollectorRegistry
from recording_driver import RecordingDriver, read_batches

from connector import local_kafka
from connector.codec import Framing, MutationCodec
from connector.codec.framing import parse_header
from connector.config import load_and_validate
from connector.driver_registry import DriverRegistry
from connector.metrics import ConnectorMetrics
from connector.publisher import MutationPublisher
from connector.runtime.app import EXIT_OK, ConnectorApp
from contracts import MutationData, thaw
from schemas import load_schema, schema_text

pytestmark = pytest.mark.kafka

DRIVERS = DriverRegistry.from_classes({"recording": RecordingDriver})
# Enough attempts for a registry that is away for a few seconds (each try waits up to the
# registry timeout): a decode must not be dead-lettered while the registry recovers in time.
PATIENT_RETRY: dict[str, Any] = {
    "max_attempts": 30,
    "initial_backoff_ms": 100,
    "max_backoff_ms": 1_000,
    "jitter": 0.0,
}


def handled(path: Path) -> list[tuple[str, str, int | None]]:
    return [(u, op, v) for batch in read_batches(str(path)) for u, op, v in batch["batch"]]


def as_handled(mutations: Sequence[MutationData]) -> list[tuple[str, str, int | None]]:
    return [(m.entity_uuid, m.operation.value, m.version) for m in mutations]


def per_entity(items: Sequence[tuple[str, str, int | None]]) -> dict[str, list[int | None]]:
    out: dict[str, list[int | None]] = {}
    for uuid, _op, version in items:
        out.setdefault(uuid, []).append(version)
    return out


def registry_client(url: str, timeout_s: float = 5.0) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": url, "timeout": timeout_s, "max.retries": 0})


def with_registry(env: ConnectorEnv, url: str, **config: Any) -> Path:
    path = env.config(**config)
    data = yaml.safe_load(path.read_text())
    data["schema_registry"] = {"url": url, "timeout_s": 1.0, "max_retries": 0}
    path.write_text(yaml.safe_dump(data))
    return path


def make_app(config: Path) -> tuple[ConnectorApp, CollectorRegistry]:
    registry = CollectorRegistry()
    settings, configs = load_and_validate(config, DRIVERS)
    app = ConnectorApp(
        settings,
        DRIVERS,
        configs,
        metrics=ConnectorMetrics(registry),
        install_signal_handlers=False,
    )
    return app, registry


def assert_exactly_handled(
    env: ConnectorEnv, expected: Sequence[MutationData], topic: str, partitions: int
) -> None:
    """Every record handled once in per-entity order, none dead-lettered, all committed."""
    got = handled(env.output)
    assert sorted(got) == sorted(as_handled(expected))
    assert per_entity(got) == per_entity(as_handled(expected))
    assert env.topic_records(env.topics.dead_letter_topic(env.integration_uuid)) == 0
    ends = {p: end for p, end in env.end_offsets(topic, partitions).items() if end}
    committed = env.committed(topic, partitions)
    assert {p: committed[p] for p in ends} == ends  # an empty partition has nothing to commit


def as_avro_dict(mutation: MutationData, _ctx: SerializationContext | None) -> dict[str, Any]:
    """What a producer using confluent-kafka's AvroSerializer builds from its own objects."""
    return {
        "entity_type": mutation.entity_type,
        "entity_uuid": mutation.entity_uuid,
        "operation": mutation.operation.value,
        "payload": orjson.dumps(thaw(mutation.payload)).decode(),
        "changed_fields": list(mutation.changed_fields),
        "event_id": mutation.event_id,
        "occurred_at": mutation.occurred_at,
        "version": mutation.version,
    }


def produce_serialized(env: ConnectorEnv, topic: str, values: Sequence[tuple[str, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": env.bootstrap, "linger.ms": 5})
    for key, value in values:
        producer.produce(topic, key=key.encode(), value=value)
    assert producer.flush(30) == 0


# ---------------------------------------------------------------------- tests -------------
async def test_publisher_sdk_with_registry_framing_reaches_the_connector(
    connector_env: ConnectorEnv, schema_registry_url: str
) -> None:
    env = connector_env
    env.create_mutation_topics(["product"], partitions=3)
    topic = env.topics.mutation_topic("product")
    client = registry_client(schema_registry_url)
    codec = MutationCodec(
        framing=Framing.CONFLUENT, schema_registry_client=client, topics=env.topics
    )
    mutations = product_mutations(entities=12, versions=5)
    with MutationPublisher(env.bootstrap, topics=env.topics, codec=codec) as publisher:
        for item in mutations:
            publisher.publish(item)
        publisher.flush(30)
    app, _ = make_app(with_registry(env, schema_registry_url))

    code = await run_until(app, lambda: len(handled(env.output)) >= len(mutations))

    assert code == EXIT_OK
    assert_exactly_handled(env, mutations, topic, 3)
    # The values name the id the registry gave the subject `<topic>-value`.
    registered = client.get_latest_version(f"{topic}-value")
    (first, *_) = env.read(topic)
    framing, schema_id, _ = parse_header(first.value() or b"")
    assert (framing, schema_id) == (Framing.CONFLUENT, registered.schema_id)


async def test_values_from_confluents_avro_serializer_reach_the_connector(
    connector_env: ConnectorEnv, schema_registry_url: str
) -> None:
    env = connector_env
    env.create_mutation_topics(["product"], partitions=2)
    topic = env.topics.mutation_topic("product")
    serializer = AvroSerializer(
        registry_client(schema_registry_url), schema_text("mutation_data"), as_avro_dict
    )
    context = SerializationContext(topic, MessageField.VALUE)
    mutations = product_mutations(entities=6, versions=4)
    values = []
    for item in mutations:
        value = serializer(item, context)
        assert value is not None
        values.append((item.entity_uuid, value))
    produce_serialized(env, topic, values)
    app, _ = make_app(with_registry(env, schema_registry_url))

    code = await run_until(app, lambda: len(handled(env.output)) >= len(mutations))

    assert code == EXIT_OK
    assert_exactly_handled(env, mutations, topic, 2)


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """The registry process stopped (SIGSTOP): connections open, nothing answers (a hung
    registry, the case only a client timeout catches). Always resumed."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def newer_producer_schema() -> str:
    """A compatible evolution (an optional field at the end): a new schema id the
    connector has not cached, read through schema resolution."""
    schema = load_schema("mutation_data")
    fields = [*schema["fields"], {"name": "trace_id", "type": ["null", "string"], "default": None}]
    return json.dumps({**schema, "fields": fields})


async def test_a_registry_outage_mid_run_is_retried_and_dead_letters_nothing(
    connector_env: ConnectorEnv, schema_registry_url: str
) -> None:
    """1. Records of schema A are handled (the connector caches A's id).
    2. Records of schema B (registered while the registry was up, never seen by the
       connector) arrive while the registry hangs: every lookup times out, the decode is
       retried with backoff. 3. The registry comes back: all handled, none dead-lettered."""
    local = local_kafka.running_registry()
    if local is None or local.url.rstrip("/") != schema_registry_url.rstrip("/"):
        pytest.fail(
            "the outage test freezes the local registry process: start it with "
            "`python -m connector.local_kafka up --registry` (SCHEMA_REGISTRY_URL must be its URL)"
        )
    env = connector_env
    env.create_mutation_topics(["product"], partitions=2)
    topic = env.topics.mutation_topic("product")
    client = registry_client(schema_registry_url)
    context = SerializationContext(topic, MessageField.VALUE)
    first = product_mutations(entities=4, versions=2)
    second = [m.model_copy(update={"version": (m.version or 0) + 2}) for m in first]

    def serialize(schema: str, items: Sequence[MutationData]) -> list[tuple[str, bytes]]:
        serializer = AvroSerializer(client, schema, as_avro_dict)
        return [(m.entity_uuid, serializer(m, context) or b"") for m in items]

    old_values = serialize(schema_text("mutation_data"), first)
    new_values = serialize(newer_producer_schema(), second)
    assert old_values[0][1][:5] != new_values[0][1][:5]  # two schema ids
    produce_serialized(env, topic, old_values)
    app, metrics = make_app(with_registry(env, schema_registry_url, retry=PATIENT_RETRY))

    def retries() -> float:
        value = metrics.get_sample_value(
            "iec_connector_retries_total",
            {"integration": env.integration_uuid, "entity_type": "product"},
        )
        return value or 0.0

    def outage() -> None:
        with frozen(local.pid):
            produce_serialized(env, topic, new_values)
            started = time.monotonic()
            # Hold the outage until the connector has met it (a retried decode), then a bit.
            while not retries() and time.monotonic() - started < 30:
                time.sleep(0.2)
            time.sleep(2.0)
            assert retries(), "the connector met the outage"
            assert len(handled(env.output)) == len(first), "nothing decodes while it hangs"

    phases: list[str] = []

    def done() -> bool:
        if not phases and len(handled(env.output)) >= len(first):
            outage()
            phases.append("recovered")
        return bool(phases) and len(handled(env.output)) >= len(first) + len(second)

    code = await run_until(app, done, limit_s=120)

    assert code == EXIT_OK
    assert_exactly_handled(env, [*first, *second], topic, 2)
