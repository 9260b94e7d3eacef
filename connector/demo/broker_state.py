"""What a demo run left on the broker: committed lag, stored mappings; and its clean-up.

These read the broker afresh after the connector stopped, so the summary shows what
survives the process (committed offsets, the compacted mapping topic), not in-memory state.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from connector.demo.plan import DemoPlan
from connector.kafka import new_consumer
from connector.mapping_store import KafkaMappingStore

__all__ = ["committed_lag", "delete_run", "stored_mappings"]

_TIMEOUT_S = 15.0


def committed_lag(plan: DemoPlan, client_config: dict[str, str]) -> int:
    """Records on the run's mutation topics beyond the group's committed offsets."""
    topics = [plan.topics.mutation_topic(t) for t in plan.entity_types]
    consumer = new_consumer(
        client_config,
        group_id=plan.topics.group_id(plan.integration.uuid),
        logger=logging.getLogger("iec.demo.kafka"),
        settings={"enable.auto.commit": False},
    )
    try:
        metadata: Any = consumer.list_topics(timeout=_TIMEOUT_S)
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(metadata.topics[topic].partitions)
        ]
        committed = consumer.committed(partitions, timeout=_TIMEOUT_S)
        lag = 0
        for tp in committed:
            low, high = consumer.get_watermark_offsets(tp, timeout=_TIMEOUT_S)
            position = tp.offset if tp.offset >= 0 else low
            lag += max(0, high - position)
        return lag
    finally:
        consumer.close()


def stored_mappings(plan: DemoPlan, client_config: dict[str, str]) -> int:
    """Mappings on the integration's compacted topic, restored by a fresh reader."""
    integration = plan.integration.uuid
    store = KafkaMappingStore(
        integration_uuid=integration,
        topic=plan.topics.mapping_topic(integration),
        client_config=client_config,
    )
    try:
        store.start(_TIMEOUT_S, create_topic=False, follow=False)
        return store.count()
    finally:
        store.close()


def delete_run(plan: DemoPlan, admin: AdminClient, topic_names: list[str]) -> None:
    """Delete the run's topics and consumer group (best effort: a leftover harms nothing)."""
    futures = admin.delete_topics(topic_names, operation_timeout=_TIMEOUT_S)
    for future in futures.values():
        with contextlib.suppress(KafkaException):
            future.result(timeout=_TIMEOUT_S)
    groups = admin.delete_consumer_groups(
        [plan.topics.group_id(plan.integration.uuid)], request_timeout=_TIMEOUT_S
    )
    for future in groups.values():
        with contextlib.suppress(KafkaException):
            future.result(timeout=_TIMEOUT_S)
