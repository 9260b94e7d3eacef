"""A connector environment for runtime tests: unique topic prefixes, a config file, a publisher."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from connector.publisher import MutationPublisher
from connector.runtime.app import ConnectorApp
from connector.topics import TopicSettings
from contracts import MutationData, Operation


@dataclass
class ConnectorEnv:
    bootstrap: str
    topics: TopicSettings
    tmp: Path
    create_topics: Callable[..., list[str]]
    integration_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def output(self) -> Path:
        return self.tmp / "handled.jsonl"

    def config(
        self,
        *,
        driver: str = "recording",
        entity_types: Iterable[str] = ("product",),
        driver_config: dict[str, Any] | None = None,
        batch: dict[str, Any] | None = None,
        retry: dict[str, Any] | None = None,
        kafka: dict[str, Any] | None = None,
        handle_timeout_ms: int = 30_000,
        concurrency: int | None = None,
        ordering: str | None = None,
        name: str = "config.yaml",
        extra_integrations: Iterable[dict[str, Any]] = (),
    ) -> Path:
        """Write a configuration file; `extra_integrations` (see `integration_entry`) are
        added after the test integration."""
        data = {
            "kafka": {
                "bootstrap_servers": self.bootstrap,
                # a killed member must leave the group fast, or restarts wait 45 s for it
                "extra": {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"},
                **(kafka or {}),
            },
            "topics": self.topics.model_dump(),
            "metrics": {"port": 0, "host": "127.0.0.1"},
            "runtime": {"shutdown_grace_ms": 10_000, "log_level": "INFO"},
            "integrations": [
                self.integration_entry(
                    driver=driver,
                    entity_types=entity_types,
                    driver_config=driver_config,
                    batch=batch,
                    retry=retry,
                    handle_timeout_ms=handle_timeout_ms,
                    concurrency=concurrency,
                    ordering=ordering,
                ),
                *extra_integrations,
            ],
        }
        path = self.tmp / name
        path.write_text(yaml.safe_dump(data))
        return path

    def integration_entry(
        self,
        *,
        integration_uuid: str | None = None,
        name: str = "test-integration",
        driver: str = "recording",
        entity_types: Iterable[str] = ("product",),
        driver_config: dict[str, Any] | None = None,
        batch: dict[str, Any] | None = None,
        retry: dict[str, Any] | None = None,
        handle_timeout_ms: int = 30_000,
        concurrency: int | None = None,
        ordering: str | None = None,
    ) -> dict[str, Any]:
        """One entry of `integrations` (the test integration's uuid unless `uuid` is given);
        `concurrency`/`ordering` default to the runtime's defaults."""
        extra: dict[str, Any] = {}
        if concurrency is not None:
            extra["concurrency"] = concurrency
        if ordering is not None:
            extra["ordering"] = ordering
        return {
            **extra,
            "uuid": integration_uuid or self.integration_uuid,
            "name": name,
            "driver": driver,
            "entity_types": list(entity_types),
            "config": driver_config or {"output_path": str(self.output)},
            "batch": batch or {"max_records": 50, "linger_ms": 50},
            "retry": retry or {"max_attempts": 3, "initial_backoff_ms": 50, "max_backoff_ms": 200},
            "handle_timeout_ms": handle_timeout_ms,
        }

    def create_mutation_topics(
        self,
        entity_types: Iterable[str],
        partitions: int = 3,
        config: dict[str, str] | None = None,
    ) -> None:
        self.create_topics(
            [self.topics.mutation_topic(t) for t in entity_types],
            partitions=partitions,
            config=config,
        )

    def publish(self, mutations: Iterable[MutationData]) -> int:
        count = 0
        with MutationPublisher(self.bootstrap, topics=self.topics) as publisher:
            for mutation in mutations:
                publisher.publish(mutation)
                count += 1
            publisher.flush(30)
        return count

    def committed(
        self, topic: str, partitions: int, integration_uuid: str | None = None
    ) -> dict[int, int]:
        """The committed offsets of the test integration's group (or `integration_uuid`'s)."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.topics.group_id(integration_uuid or self.integration_uuid),
            }
        )
        try:
            tps = consumer.committed(
                [TopicPartition(topic, p) for p in range(partitions)], timeout=10
            )
            return {tp.partition: tp.offset for tp in tps}
        finally:
            consumer.close()

    def end_offsets(self, topic: str, partitions: int) -> dict[int, int]:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "end-offsets"})
        try:
            return {p: _end_offset(consumer, topic, p) for p in range(partitions)}
        finally:
            consumer.close()

    def produce_raw(
        self, topic: str, records: Iterable[RawRecord], **config: Any
    ) -> list[Delivery]:
        """Produce `records` as they are (no codec) and wait for every delivery report.

        `config` adds producer properties (``**{"message.max.bytes": 4_000_000}``).
        """
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5, **config})
        reports: list[Delivery] = []
        for record in records:

            def on_delivery(err: KafkaError | None, msg: Message, r: RawRecord = record) -> None:
                reports.append(Delivery(r, err, msg.partition(), msg.offset()))

            producer.produce(
                topic,
                key=record.key,
                value=record.value,
                headers=list(record.headers),
                partition=record.partition,
                on_delivery=on_delivery,
            )
            producer.poll(0)
        assert producer.flush(30) == 0, "some records were not delivered in time"
        return reports

    def topic_records(self, topic: str) -> int:
        """How many records `topic` holds (the sum of its end offsets; 0 if it is missing)."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "end-offsets"})
        try:
            described = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if described is None or described.error is not None:
                return 0
            return sum(_end_offset(consumer, topic, p) for p in described.partitions)
        finally:
            consumer.close()

    def read(self, topic: str, timeout_s: float = 20.0) -> list[Message]:
        """Every record of `topic` up to its current end, by (partition, offset)."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"test-reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                # A fetch racing a new topic's first write can be answered "offset out of range";
                # the default reset (latest) would then skip the records this reader is for.
                "auto.offset.reset": "earliest",
            }
        )
        try:
            described = consumer.list_topics(topic, timeout=10).topics[topic]
            ends = {
                p: end for p in described.partitions if (end := _end_offset(consumer, topic, p))
            }
            consumer.assign([TopicPartition(topic, p, 0) for p in ends])
            records: list[Message] = []
            deadline = time.monotonic() + timeout_s
            while ends:
                assert time.monotonic() < deadline, f"could not read {topic} to its end"
                msg = consumer.poll(0.5)
                if msg is None or msg.error() is not None:
                    continue
                records.append(msg)
                if (msg.offset() or 0) + 1 >= ends.get(msg.partition() or 0, 0):
                    ends.pop(msg.partition() or 0, None)
            return sorted(records, key=lambda m: (m.partition(), m.offset()))
        finally:
            consumer.close()


_NOT_READY = (
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
)


def _end_offset(consumer: Consumer, topic: str, partition: int, timeout_s: float = 10) -> int:
    """The end offset of one partition, waiting out a topic that is still being created."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return int(consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)[1])
        except KafkaException as exc:
            if exc.args[0].code() not in _NOT_READY or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@dataclass(frozen=True)
class RawRecord:
    """A record to produce as is: any bytes (or None) as key and value."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int = 0


@dataclass(frozen=True)
class Delivery:
    """The delivery report of one `RawRecord`: an error, or where it was written."""

    record: RawRecord
    error: KafkaError | None
    partition: int | None
    offset: int | None


def product_mutations(
    entities: int, versions: int, entity_type: str = "product"
) -> list[MutationData]:
    """`versions` successive mutations for each of `entities` entities, interleaved."""
    out: list[MutationData] = []
    for version in range(1, versions + 1):
        for n in range(entities):
            op = Operation.CREATED if version == 1 else Operation.UPDATED
            out.append(
                MutationData(
                    entity_type=entity_type,
                    entity_uuid=f"{entity_type}-{n:05d}",
                    operation=op,
                    payload={"sku": f"SKU-{n}", "stock": version},
                    changed_fields=("stock",),
                    version=version,
                )
            )
    return out


def make_env(bootstrap: str, tmp: Path, create_topics: Callable[..., list[str]]) -> ConnectorEnv:
    run = uuid.uuid4().hex[:10]
    topics = TopicSettings(
        mutation_prefix=f"t{run}.mutations",
        mapping_prefix=f"t{run}.mappings",
        dead_letter_prefix=f"t{run}.dead-letters",
        retry_prefix=f"t{run}.retry",
        group_prefix=f"t{run}.group",
        partitions=3,
        create_missing=True,  # the runtime creates what a test did not create itself
    )
    return ConnectorEnv(bootstrap, topics, tmp, create_topics)


async def run_until(app: ConnectorApp, done: Callable[[], bool], limit_s: float = 60.0) -> int:
    """Run `app` until `done()` holds (checked every 0.1 s), then stop it; its exit code.

    Fails if `done()` does not hold within `limit_s` or the app stops by itself first.
    """
    task = asyncio.create_task(app.run())
    deadline = time.monotonic() + limit_s
    try:
        while not await asyncio.to_thread(done):
            if task.done():
                code = task.result()
                raise AssertionError(f"the connector stopped by itself (exit code {code})")
            assert time.monotonic() < deadline, "the connector did not catch up in time"
            await asyncio.sleep(0.1)
    finally:
        app.request_stop()
        code = await asyncio.wait_for(task, 30)
    return code


def headers_of(message: Message) -> list[tuple[str, bytes]]:
    """A consumed record's headers as (name, bytes) pairs (a null value reads as b"")."""
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return [(k, v.encode() if isinstance(v, str) else (v or b"")) for k, v in pairs]
