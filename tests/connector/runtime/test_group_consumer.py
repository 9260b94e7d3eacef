"""GroupConsumer's bookkeeping without a broker: what it reports for partitions it owns."""

from __future__ import annotations

import orjson
from confluent_kafka import Consumer, TopicPartition
from prometheus_client import CollectorRegistry

from connector.metrics import ConnectorMetrics
from connector.runtime.commit_tracker import CommitTracker
from connector.runtime.group_consumer import ConsumerHooks, GroupConsumer

TOPIC = "t.product"
LAG = "iec_connector_consumer_lag_records"


def stats(lags: dict[int, int]) -> str:
    partitions = {str(p): {"consumer_lag": lag} for p, lag in lags.items()}
    return orjson.dumps({"topics": {TOPIC: {"partitions": partitions}}}).decode()


def test_lag_is_reported_only_for_owned_partitions_and_dropped_when_they_leave() -> None:
    registry = CollectorRegistry()
    tracker = CommitTracker()
    tracker.assign([(TOPIC, 0), (TOPIC, 1), (TOPIC, 2)])
    ignore = lambda *_: None  # noqa: E731
    consumer = GroupConsumer(
        name="test",
        label="i",
        group_id="g",
        topics=(TOPIC,),
        client_config={},
        tracker=tracker,
        hooks=ConsumerHooks(assigned=ignore, revoking=ignore, lost=ignore, failed=ignore),
        commit_interval_s=0.2,
        metrics=ConnectorMetrics(registry),
    )

    def lag(partition: int) -> float | None:
        labels = {"integration": "i", "topic": TOPIC, "partition": str(partition)}
        return registry.get_sample_value(LAG, labels)

    consumer._on_stats(stats({0: 5, 1: 7, 2: 9, 3: 11}))
    assert [lag(p) for p in range(4)] == [5, 7, 9, None]  # partition 3 is not ours
    # a lost partition: another member reports it now (a frozen series here would count
    # twice in the dashboard's sum and in the lag alert)
    client = Consumer({"group.id": "unused", "bootstrap.servers": "127.0.0.1:1"})  # never used
    try:
        consumer._on_lost(client, [TopicPartition(TOPIC, 1)])
    finally:
        client.close()
    assert [lag(p) for p in range(3)] == [5, None, 9]
    consumer._on_stats(stats({0: 4, 1: 7, 2: 9}))
    assert lag(1) is None
