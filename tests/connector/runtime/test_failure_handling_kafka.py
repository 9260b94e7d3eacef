"""Failure handling end to end, in process, against the real broker, with exact accounting.

Every test checks: consumed = handled + dead-lettered, and the group's committed offsets
equal the end offsets of every partition once the app has stopped.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import fastavro
import pytest
import yaml
from confluent_kafka import KafkaError, Message
from confluent_kafka.admin import AdminClient

# Re-exported by `confluent_kafka.admin` without `__all__`: strict mypy wants them from here.
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.admin._resource import ResourceType
from connector_env import (
    ConnectorEnv,
    RawRecord,
    headers_of,
    product_mutations,
    run_until,
)
from prometheus_client import CollectorRegistry, generate_latest
from recording_driver import RecordingDriver, read_batches
from registry_stub import RegistryStub

from connector.codec import MutationCodec, schema_fingerprint
from connector.codec.framing import confluent_header, single_object_header
from connector.config import load_and_validate
from connector.dead_letters.headers import DLT_PREFIX, Header, header_value
from connector.driver_registry import DriverRegistry
from connector.metrics import ConnectorMetrics
from connector.runtime.app import EXIT_OK, ConnectorApp
from contracts import MutationData, Operation
from schemas import load_schema, schema_text

pytestmark = pytest.mark.kafka

REGISTRY = DriverRegistry.from_classes({"recording": RecordingDriver})
FAST_RETRY: dict[str, Any] = {
    "max_attempts": 3,
    "initial_backoff_ms": 20,
    "max_backoff_ms": 200,
    "jitter": 0.0,
}
CODEC_ERROR = "connector.codec.errors.CodecError"
PERMANENT_ERROR = "contracts.errors.PermanentError"


# ---------------------------------------------------------------------- helpers ----------
def handled(path: Path) -> list[tuple[str, str, int | None]]:
    """(uuid, operation, version) of every handled mutation, in handling order."""
    return [(u, op, v) for batch in read_batches(str(path)) for u, op, v in batch["batch"]]


def as_handled(mutations: Sequence[MutationData]) -> list[tuple[str, str, int | None]]:
    return [(m.entity_uuid, m.operation.value, m.version) for m in mutations]


def per_entity(
    items: Sequence[tuple[str, str, int | None]],
) -> dict[str, list[tuple[str, int | None]]]:
    """(operation, version) per entity, in order: the order the runtime guarantees (different
    entities run concurrently, so their interleaving is free)."""
    out: dict[str, list[tuple[str, int | None]]] = {}
    for uuid, op, version in items:
        out.setdefault(uuid, []).append((op, version))
    return out


def per_entity_of(mutations: Sequence[MutationData]) -> dict[str, list[tuple[str, int | None]]]:
    return per_entity(as_handled(mutations))


def calls(path: Path) -> list[list[str]]:
    """The entity uuids of every `handle_batch` call, failed or not."""
    return [[item[0] for item in batch["batch"]] for batch in read_batches(str(path))]


@dataclass
class Run:
    """One in-process app run: its metrics and what it left behind."""

    env: ConnectorEnv
    app: ConnectorApp
    metrics: ConnectorMetrics
    registry: CollectorRegistry

    def sample(self, name: str, **labels: str) -> float:
        """A metric's value; 0 while the labelled series does not exist yet."""
        families = {family.name for family in self.registry.collect()}
        assert name.removesuffix("_total") in families, f"no metric {name}"
        value = self.registry.get_sample_value(name, labels)
        return value or 0.0


def make_app(env: ConnectorEnv, config: Path) -> Run:
    registry = CollectorRegistry()
    metrics = ConnectorMetrics(registry)
    settings, configs = load_and_validate(config, REGISTRY)
    app = ConnectorApp(settings, REGISTRY, configs, metrics=metrics, install_signal_handlers=False)
    return Run(env, app, metrics, registry)


async def run_to_the_end(run: Run, *, handled_n: int, dead_n: int, limit_s: float = 60) -> None:
    """Run until `handled_n` + `dead_n` records are accounted for (the split is asserted by
    the caller, so a wrong one fails with a diff instead of a timeout)."""
    env = run.env
    dlq = env.topics.dead_letter_topic(env.integration_uuid)
    code = await run_until(
        run.app,
        lambda: len(handled(env.output)) + env.topic_records(dlq) >= handled_n + dead_n,
        limit_s,
    )
    assert code == EXIT_OK


def assert_accounted(run: Run, topic: str, partitions: int) -> list[Message]:
    """consumed = handled + dead-lettered, every offset committed; returns the dead letters."""
    env = run.env
    ends = env.end_offsets(topic, partitions)
    dead = env.read(env.topics.dead_letter_topic(env.integration_uuid))
    consumed = run.sample(
        "iec_connector_records_consumed_total", integration=env.integration_uuid, topic=topic
    )
    assert consumed == sum(ends.values()) == len(handled(env.output)) + len(dead)
    assert env.committed(topic, partitions) == ends
    return dead


def mutation(uuid: str, version: int, **payload: Any) -> MutationData:
    return MutationData(
        entity_type="product",
        entity_uuid=uuid,
        operation=Operation.CREATED if version == 1 else Operation.UPDATED,
        payload=payload or {"sku": uuid, "v": version},
        version=version,
    )


# ---------------------------------------------------------------------- bad inputs -------
SCHEMA = load_schema("mutation_data")
FINGERPRINT = schema_fingerprint(SCHEMA)
_FIELDS: dict[str, Any] = {
    "entity_type": "product",
    "entity_uuid": "bad-0",
    "operation": "updated",
    "payload": '{"sku": "X"}',
    "changed_fields": [],
    "event_id": None,
    "occurred_at": None,
    "version": 1,
}


def avro_body(schema: dict[str, Any], **fields: Any) -> bytes:
    """The Avro body of a record written with `schema` (no framing)."""
    out = BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(copy.deepcopy(schema)), fields)
    return out.getvalue()


def framed(schema: dict[str, Any], **fields: Any) -> bytes:
    """Single-object framing with `schema`'s own fingerprint."""
    return single_object_header(schema_fingerprint(schema)) + avro_body(schema, **fields)


def with_extra_enum_symbol() -> dict[str, Any]:
    schema = copy.deepcopy(SCHEMA)
    operation = next(f for f in schema["fields"] if f["name"] == "operation")
    operation["type"]["symbols"].append("archived")
    return schema


def without_entity_uuid() -> dict[str, Any]:
    schema = copy.deepcopy(SCHEMA)
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "entity_uuid"]
    return schema


@dataclass(frozen=True)
class BadInput:
    case: str
    key: bytes | None
    value: bytes | None
    reason: str
    """The expected `iec.dlt.codec.reason`."""


def bad_inputs() -> list[BadInput]:
    """One record per bad-input class; each key is (or claims to be) the entity uuid."""
    codec = MutationCodec()
    valid = codec.encode(mutation("bad-trunc", 1))
    noise = random.Random(42).randbytes(64)
    body = avro_body(SCHEMA, **_FIELDS)
    extra_enum = with_extra_enum_symbol()
    no_uuid = without_entity_uuid()
    no_uuid_fields = {k: v for k, v in _FIELDS.items() if k != "entity_uuid"}
    archived = {**_FIELDS, "operation": "archived"}
    real = single_object_header(FINGERPRINT)
    return [
        BadInput("random-bytes", b"bad-0", b"\x17" + noise, "unknown-framing"),
        BadInput("truncated-avro", b"bad-trunc", valid[: len(valid) - 7], "avro"),
        BadInput("truncated-header", b"bad-0", b"\xc3\x01\x42\x42", "truncated-header"),
        # No schema registry is configured, so no schema id can be resolved.
        BadInput(
            "unknown-schema-id", b"bad-0", confluent_header(999_999) + body, "unknown-schema-id"
        ),
        BadInput(
            "unknown-fingerprint", b"bad-0", b"\xc3\x01" + noise[:8] + body, "unknown-fingerprint"
        ),
        # A writer whose Operation enum has an extra symbol: its fingerprint is unknown ...
        BadInput(
            "operation-outside-enum-variant-schema",
            b"bad-0",
            framed(extra_enum, **archived),
            "unknown-fingerprint",
        ),
        # ... and the same body under the real fingerprint: enum index 3 of 3 symbols.
        BadInput(
            "operation-index-out-of-range",
            b"bad-0",
            real + avro_body(extra_enum, **archived),
            "avro",
        ),
        # A writer without the required entity_uuid: unknown fingerprint ...
        BadInput(
            "missing-field-variant-schema",
            b"bad-0",
            framed(no_uuid, **no_uuid_fields),
            "unknown-fingerprint",
        ),
        # ... and its shorter body under the real fingerprint: the fields no longer line up.
        BadInput(
            "missing-field-body-ends-early",
            b"bad-0",
            real + avro_body(no_uuid, **no_uuid_fields),
            "avro",
        ),
        BadInput(
            "payload-not-an-object",
            b"bad-0",
            framed(SCHEMA, **{**_FIELDS, "payload": "[1, 2]"}),
            "payload-json",
        ),
        BadInput(
            "payload-not-json",
            b"bad-0",
            framed(SCHEMA, **{**_FIELDS, "payload": "{sku: X"}),
            "payload-json",
        ),
        BadInput(
            "entity-type-empty",
            b"bad-0",
            framed(SCHEMA, **{**_FIELDS, "entity_type": ""}),
            "invalid-mutation",
        ),
        BadInput("trailing-bytes", b"bad-0", framed(SCHEMA, **_FIELDS) + b"\x00", "trailing-bytes"),
        BadInput("empty-value", b"bad-0", b"", "empty"),
        BadInput("null-value-tombstone", b"bad-0", None, "tombstone"),
        BadInput(
            "key-is-not-the-entity-uuid", b"someone-else", framed(SCHEMA, **_FIELDS), "key-mismatch"
        ),
        BadInput("no-key", None, framed(SCHEMA, **_FIELDS), "key-mismatch"),
        BadInput(
            "category-on-the-product-topic",
            b"bad-0",
            framed(SCHEMA, **{**_FIELDS, "entity_type": "category"}),
            "entity-type-mismatch",
        ),
    ]


async def test_every_bad_input_is_dead_lettered_at_decode_and_the_good_ones_are_handled_in_order(
    connector_env: ConnectorEnv,
) -> None:
    env = connector_env
    # A small topic limit, so that one record can be too large to be produced at all.
    env.create_mutation_topics(["product"], partitions=1, config={"max.message.bytes": "300000"})
    topic = env.topics.mutation_topic("product")
    codec = MutationCodec()
    bad = bad_inputs()
    big = mutation("good-big", 1, blob="x" * 100_000)  # > batch max_bytes, < max.message.bytes
    too_big = mutation("good-too-big", 1, blob="x" * 400_000)  # > max.message.bytes
    # good records of three entities, two versions each, with the bad ones in between
    goods = [mutation(f"good-{n}", v) for v in (1, 2) for n in range(3)]
    records: list[RawRecord] = []
    expected: list[MutationData] = []
    for n, item in enumerate(bad):
        if n % 3 == 0:
            good = goods[n // 3]
            records.append(RawRecord(good.entity_uuid.encode(), codec.encode(good)))
            expected.append(good)
        original = (("case", item.case.encode()), ("trace-id", f"t-{n}".encode()))
        records.append(RawRecord(item.key, item.value, original))
        if n == 9:
            records.append(RawRecord(b"good-big", codec.encode(big)))
            expected.append(big)
    deliveries = env.produce_raw(topic, records)
    assert all(d.error is None for d in deliveries)
    produced = {header_value(d.record.headers, "case"): d for d in deliveries if d.record.headers}
    # too large for the topic: the broker refuses it, so the connector never sees it
    (refused,) = env.produce_raw(topic, [RawRecord(b"good-too-big", codec.encode(too_big))])
    assert refused.error is not None
    assert refused.error.code() == KafkaError.MSG_SIZE_TOO_LARGE

    run = make_app(
        env,
        env.config(batch={"max_records": 50, "max_bytes": 4096, "linger_ms": 50}, retry=FAST_RETRY),
    )
    await run_to_the_end(run, handled_n=len(goods) + 1, dead_n=len(bad))

    # good records: all handled once, in order (one partition); the oversize one alone
    assert per_entity(handled(env.output)) == per_entity_of(expected)
    big_batches = [
        b["batch"]
        for b in read_batches(str(env.output))
        if ["good-big", "created", 1] in b["batch"]
    ]
    assert big_batches == [[["good-big", "created", 1]]]
    # one dead letter per bad record, with its context
    dead = assert_accounted(run, topic, 1)
    by_case = {header_value(headers_of(m), "case"): m for m in dead}
    assert sorted(by_case, key=str) == sorted(b.case for b in bad)
    for item in bad:
        letter = by_case[item.case]
        headers = headers_of(letter)
        origin = produced[item.case]
        context = {
            name: header_value(headers, name) for name in Header if name.startswith(DLT_PREFIX)
        }
        assert context[Header.STAGE] == "decode", item.case
        assert context[Header.CODEC_REASON] == item.reason, item.case
        assert context[Header.EXCEPTION_CLASS] == CODEC_ERROR, item.case
        assert context[Header.ERROR_KIND] == "permanent", item.case
        assert context[Header.ATTEMPTS] == "0", item.case
        assert context[Header.ORIGIN_TOPIC] == topic
        assert context[Header.ORIGIN_PARTITION] == str(origin.partition)
        assert context[Header.ORIGIN_OFFSET] == str(origin.offset)
        assert context[Header.ENTITY_TYPE] == "product"
        assert context[Header.INTEGRATION_UUID] == env.integration_uuid
        assert context[Header.CONSUMER_GROUP] == env.topics.group_id(env.integration_uuid)
        assert context[Header.DRIVER_TYPE] == "recording"
        assert (context[Header.EXCEPTION_MESSAGE] or "").startswith(item.reason + ":")
        assert "CodecError" in (context[Header.EXCEPTION_STACKTRACE] or "")
        # the original record, untouched
        assert letter.key() == item.key, item.case
        assert letter.value() == item.value, item.case
        assert headers[:2] == list(origin.record.headers), item.case
    assert run.sample(
        "iec_connector_dead_letters_total",
        integration=env.integration_uuid,
        stage="decode",
        error_class=CODEC_ERROR,
        entity_type="product",
    ) == len(bad)


async def test_with_a_schema_registry_an_unknown_schema_id_is_dead_lettered_and_a_known_one_handled(
    connector_env: ConnectorEnv,
) -> None:
    env = connector_env
    env.create_mutation_topics(["product"], partitions=1)
    topic = env.topics.mutation_topic("product")
    stub = RegistryStub()  # the registry's REST API, answering 404 for unknown ids
    try:
        stub.routes["GET", "/schemas/ids/7"] = (200, {"schema": schema_text("mutation_data")})
        known = [mutation("reg-1", 1), mutation("reg-1", 2)]
        bodies = [MutationCodec().encode(m)[10:] for m in known]  # without single-object header
        records = [
            RawRecord(b"reg-1", confluent_header(7) + bodies[0]),
            RawRecord(b"reg-1", confluent_header(999_999) + bodies[1]),
            RawRecord(b"reg-1", confluent_header(7) + bodies[1]),
        ]
        env.produce_raw(topic, records)
        config = env.config(retry=FAST_RETRY)
        data = yaml.safe_load(config.read_text())
        data["schema_registry"] = {"url": stub.url}
        config.write_text(yaml.safe_dump(data))
        run = make_app(env, config)

        await run_to_the_end(run, handled_n=2, dead_n=1)

        assert per_entity(handled(env.output)) == per_entity_of(known)
        (letter,) = assert_accounted(run, topic, 1)
        assert header_value(headers_of(letter), Header.CODEC_REASON) == "unknown-schema-id"
        assert header_value(headers_of(letter), Header.ORIGIN_OFFSET) == "1"
        assert stub.calls["GET", "/schemas/ids/7"] == 1  # looked up once, then cached
    finally:
        stub.close()


async def test_a_dead_letter_too_large_for_its_topic_waits_until_the_topic_takes_it(
    connector_env: ConnectorEnv, admin: AdminClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A dead letter is its record plus context headers: bigger than what the origin took.

    Near the producer's default limit it must still be written whole; above the dead-letter
    topic's limit it is retried (nothing committed past it) until an operator raises it.
    """
    env = connector_env
    env.create_mutation_topics(["product"], partitions=1, config={"max.message.bytes": "3000000"})
    topic = env.topics.mutation_topic("product")
    dlq = env.topics.dead_letter_topic(env.integration_uuid)
    # An operator-made dead-letter topic with the broker's default limit (~1 MB); the one
    # the connector creates takes 8 MiB, so this situation needs a topic made by hand.
    env.create_topics([dlq], partitions=1, config={"max.message.bytes": "1048588"})
    codec = MutationCodec()
    noise = random.Random(7)
    near = b"\x17" + noise.randbytes(999_000)  # + headers > the producer's default 1 MB
    huge = b"\x17" + noise.randbytes(1_500_000)  # + headers > the topic's default ~1 MB
    goods = [mutation("good-0", 1), mutation("good-1", 1)]
    records = [
        RawRecord(b"good-0", codec.encode(goods[0])),
        RawRecord(b"near", near),
        RawRecord(b"huge", huge),
        RawRecord(b"good-1", codec.encode(goods[1])),
    ]
    deliveries = env.produce_raw(topic, records, **{"message.max.bytes": 4_000_000})
    assert all(d.error is None for d in deliveries)
    huge_offset = deliveries[2].offset
    assert huge_offset is not None
    run = make_app(env, env.config(retry=FAST_RETRY))
    failures = {"integration": env.integration_uuid}

    def raise_the_limit_once_refused() -> bool:
        if run.sample("iec_connector_dead_letter_write_failures_total", **failures) < 1:
            return False
        assert env.topic_records(dlq) == 1  # the near-limit one went through whole
        committed = env.committed(topic, 1)[0]
        assert committed <= huge_offset  # nothing committed past the waiting record
        resource = ConfigResource(
            ResourceType.TOPIC,
            dlq,
            incremental_configs=[
                ConfigEntry(
                    "max.message.bytes",
                    "4000000",
                    incremental_operation=AlterConfigOpType.SET,
                )
            ],
        )
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(timeout=30)
        return True

    raised = False

    def done() -> bool:
        nonlocal raised
        raised = raised or raise_the_limit_once_refused()
        return raised and len(handled(env.output)) + env.topic_records(dlq) >= 4

    assert await run_until(run.app, done) == EXIT_OK

    assert per_entity(handled(env.output)) == per_entity_of(goods)
    dead = assert_accounted(run, topic, 1)
    assert [(m.key(), m.value()) for m in dead] == [(b"near", near), (b"huge", huge)]
    refused = [r for r in caplog.records if "dead-letter write failed" in r.getMessage()]
    assert refused
    assert "MSG_SIZE_TOO_LARGE" in refused[0].getMessage()
    assert run.sample("iec_connector_dead_letter_write_failures_total", **failures) == len(refused)


# ---------------------------------------------------------------------- driver behaviours -
def single_partition(env: ConnectorEnv, mutations: Sequence[MutationData]) -> str:
    """Publish `mutations` in this order to a one-partition product topic; its name."""
    env.create_mutation_topics(["product"], partitions=1)
    env.publish(mutations)
    return env.topics.mutation_topic("product")


def driver_config(env: ConnectorEnv, **knobs: Any) -> dict[str, Any]:
    return {"output_path": str(env.output), "calls_path": str(env.tmp / "calls.jsonl"), **knobs}


async def test_permanent_error_dead_letters_that_record_and_the_rest_is_handled_in_order(
    connector_env: ConnectorEnv,
) -> None:
    env = connector_env
    mutations = product_mutations(10, 3)
    topic = single_partition(env, mutations)
    run = make_app(
        env,
        env.config(
            driver_config=driver_config(env, poison_versions=["product-00003@2"]),
            retry=FAST_RETRY,
        ),
    )

    await run_to_the_end(run, handled_n=29, dead_n=1)

    poison = next(m for m in mutations if m.entity_uuid == "product-00003" and m.version == 2)
    assert per_entity(handled(env.output)) == per_entity_of(
        [m for m in mutations if m is not poison]
    )
    (letter,) = assert_accounted(run, topic, 1)
    headers = headers_of(letter)
    assert header_value(headers, Header.STAGE) == "handle"
    assert header_value(headers, Header.ERROR_KIND) == "permanent"
    assert header_value(headers, Header.EXCEPTION_CLASS) == PERMANENT_ERROR
    assert header_value(headers, Header.EXCEPTION_MESSAGE) == "downstream rejected product-00003@2"
    assert header_value(headers, Header.ATTEMPTS) == "1"  # permanent: never retried
    assert header_value(headers, Header.ENTITY_UUID) == "product-00003"
    assert header_value(headers, Header.ORIGIN_OFFSET) == str(mutations.index(poison))
    assert MutationCodec().decode(letter.value() or b"") == poison
    assert (
        run.sample(
            "iec_connector_retries_total", integration=env.integration_uuid, entity_type="product"
        )
        == 0
    )


async def test_transient_error_that_recovers_after_two_attempts_is_not_dead_lettered(
    connector_env: ConnectorEnv,
) -> None:
    env = connector_env
    mutations = product_mutations(10, 1)
    topic = single_partition(env, mutations)
    run = make_app(
        env,
        env.config(
            driver_config=driver_config(env, flaky_uuids=["product-00004"], flaky_failures=2),
            batch={"max_records": 50, "linger_ms": 200},
            retry=FAST_RETRY,
        ),
    )

    await run_to_the_end(run, handled_n=10, dead_n=0)

    assert per_entity(handled(env.output)) == per_entity_of(mutations)
    assert assert_accounted(run, topic, 1) == []
    retries = run.sample(
        "iec_connector_retries_total", integration=env.integration_uuid, entity_type="product"
    )
    assert retries >= 2
    assert (
        run.sample("iec_connector_retry_paused_seconds_total", integration=env.integration_uuid) > 0
    )
    # every failed call held the flaky record; the one that succeeded came after them
    flaky_calls = [c for c in calls(env.tmp / "calls.jsonl") if "product-00004" in c]
    assert len(flaky_calls) == 3


async def test_a_sync_call_past_its_timeout_is_waited_for_and_its_own_failure_counts(
    connector_env: ConnectorEnv,
) -> None:
    env = connector_env
    mutations = product_mutations(6, 1)
    topic = single_partition(env, mutations)
    run = make_app(
        env,
        env.config(
            # The hung calls fail after 1.5 s, long past the 0.3 s timeout.
            driver_config=driver_config(env, hang_uuids=["product-00002"], hang_ms=1500),
            batch={"max_records": 50, "linger_ms": 500},
            retry={**FAST_RETRY, "max_attempts": 2},
            handle_timeout_ms=300,
        ),
    )

    await run_to_the_end(run, handled_n=5, dead_n=1)

    assert per_entity(handled(env.output)) == per_entity_of(
        [m for m in mutations if m.entity_uuid != "product-00002"]
    )
    (letter,) = assert_accounted(run, topic, 1)
    headers = headers_of(letter)
    assert header_value(headers, Header.STAGE) == "handle"
    assert header_value(headers, Header.ERROR_KIND) == "transient"  # retries exhausted
    # A sync call cannot be interrupted: the runtime waited for it, and its own outcome
    # (the driver's TransientError, 1.2 s after the timeout) is what failed the record.
    assert header_value(headers, Header.EXCEPTION_CLASS) == "contracts.errors.TransientError"
    assert header_value(headers, Header.EXCEPTION_MESSAGE) == "no answer for product-00002"
    assert header_value(headers, Header.ATTEMPTS) == "2"
    assert header_value(headers, Header.ENTITY_UUID) == "product-00002"
    overdue = run.sample(
        "iec_connector_handle_overdue_calls_total", integration=env.integration_uuid
    )
    assert overdue >= 2
    # the whole batch was tried as often as the retry settings say, then bisected
    whole = [c for c in calls(env.tmp / "calls.jsonl") if len(c) == len(mutations)]
    assert len(whole) == 2


async def test_one_poison_record_in_a_batch_of_100_leaves_99_handled_in_order(
    connector_env: ConnectorEnv,
) -> None:
    env = connector_env
    mutations = product_mutations(100, 1)
    topic = single_partition(env, mutations)
    run = make_app(
        env,
        env.config(
            driver_config=driver_config(env, poison_uuids=["product-00037"]),
            batch={"max_records": 100, "linger_ms": 2000},
            retry=FAST_RETRY,
        ),
    )

    await run_to_the_end(run, handled_n=99, dead_n=1)

    assert per_entity(handled(env.output)) == per_entity_of(
        [m for m in mutations if m.entity_uuid != "product-00037"]
    )
    (letter,) = assert_accounted(run, topic, 1)
    assert header_value(headers_of(letter), Header.ENTITY_UUID) == "product-00037"
    assert header_value(headers_of(letter), Header.STAGE) == "handle"
    driver_calls = calls(env.tmp / "calls.jsonl")
    assert len(driver_calls[0]) == 100  # one batch of 100, then bisection
    assert len(driver_calls) <= 1 + 2 * 7  # ≤ 2·log2(n) calls to isolate one poison record


async def test_downstream_down_for_a_while_is_waited_out_without_dead_letters(
    connector_env: ConnectorEnv,
) -> None:
    env = connector_env
    mutations = product_mutations(20, 2)
    topic = single_partition(env, mutations)
    down = env.tmp / "downstream-down"
    down.touch()
    calls_path = env.tmp / "calls.jsonl"
    run = make_app(
        env,
        env.config(
            driver_config=driver_config(env, down_until_file=str(down)),
            retry={**FAST_RETRY, "max_attempts": 1000, "max_elapsed_ms": 120_000},
        ),
    )

    def come_back_after_some_retries() -> None:
        # Down for at least ~2 s and 8 failed calls, then the downstream is back.
        started = time.monotonic()
        while len(calls(calls_path)) < 8 or time.monotonic() - started < 2:
            assert time.monotonic() - started < 60, "the driver was not retried"
            time.sleep(0.05)
        down.unlink()

    back = asyncio.create_task(asyncio.to_thread(come_back_after_some_retries))
    await run_to_the_end(run, handled_n=40, dead_n=0)
    await back

    assert per_entity(handled(env.output)) == per_entity_of(mutations)
    assert assert_accounted(run, topic, 1) == []
    assert (
        run.sample(
            "iec_connector_retries_total", integration=env.integration_uuid, entity_type="product"
        )
        >= 8
    )
    assert (
        run.sample("iec_connector_retry_paused_seconds_total", integration=env.integration_uuid) > 0
    )


# ---------------------------------------------------------------------- secrets ----------
SECRET = "sk-live-3f9c2a7be1d04c55"


async def test_a_secret_in_a_driver_error_never_reaches_dead_letters_logs_or_metrics(
    connector_env: ConnectorEnv, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = connector_env
    mutations = product_mutations(5, 1)
    topic = single_partition(env, mutations)
    run = make_app(
        env,
        env.config(
            driver_config=driver_config(env, api_key=SECRET, leaky_uuids=["product-00001"]),
            retry={**FAST_RETRY, "max_attempts": 2},
        ),
    )

    await run_to_the_end(run, handled_n=4, dead_n=1)

    (letter,) = assert_accounted(run, topic, 1)
    headers = headers_of(letter)
    for name, value in headers:
        assert SECRET.encode() not in value, name
    message = header_value(headers, Header.EXCEPTION_MESSAGE) or ""
    assert message == "401 from downstream for product-00001 with api_key=***"
    assert header_value(headers, Header.EXCEPTION_CAUSE_CLASS) == "ConnectionError"
    assert "Authorization: Bearer ***" in (header_value(headers, Header.EXCEPTION_STACKTRACE) or "")
    assert header_value(headers, Header.ERROR_KIND) == "transient"
    assert "TransientError" in caplog.text  # the retries and the dead letter were logged ...
    assert SECRET not in caplog.text  # ... without the secret
    assert SECRET.encode() not in generate_latest(run.registry)
