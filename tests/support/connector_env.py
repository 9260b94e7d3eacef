"""A connector environment for runtime tests: unique topic prefixes, a config file, a publisher."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Consumer, TopicPartition

from connector.publisher import MutationPublisher
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
        name: str = "config.yaml",
    ) -> Path:
        data = {
            "kafka": {"bootstrap_servers": self.bootstrap, **(kafka or {})},
            "topics": self.topics.model_dump(),
            "metrics": {"port": 0, "host": "127.0.0.1"},
            "runtime": {"shutdown_grace_ms": 10_000, "log_level": "INFO"},
            "integrations": [
                {
                    "uuid": self.integration_uuid,
                    "name": "test-integration",
                    "driver": driver,
                    "entity_types": list(entity_types),
                    "config": driver_config or {"output_path": str(self.output)},
                    "batch": batch or {"max_records": 50, "linger_ms": 50},
                    "retry": retry
                    or {"max_attempts": 3, "initial_backoff_ms": 50, "max_backoff_ms": 200},
                    "handle_timeout_ms": handle_timeout_ms,
                }
            ],
        }
        path = self.tmp / name
        path.write_text(yaml.safe_dump(data))
        return path

    def create_mutation_topics(self, entity_types: Iterable[str], partitions: int = 3) -> None:
        self.create_topics(
            [self.topics.mutation_topic(t) for t in entity_types], partitions=partitions
        )

    def publish(self, mutations: Iterable[MutationData]) -> int:
        count = 0
        with MutationPublisher(self.bootstrap, topics=self.topics) as publisher:
            for mutation in mutations:
                publisher.publish(mutation)
                count += 1
            publisher.flush(30)
        return count

    def committed(self, topic: str, partitions: int) -> dict[int, int]:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.topics.group_id(self.integration_uuid),
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
            return {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(partitions)
            }
        finally:
            consumer.close()


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
    )
    return ConnectorEnv(bootstrap, topics, tmp, create_topics)
