"""Fixtures for dead-letter tests: read a whole topic back from the broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

ReadTopic = Callable[[str], list[Any]]


def read_topic(bootstrap: str, topic: str, timeout_s: float = 20.0) -> list[Any]:
    """Every record of partition 0..n of `topic`, up to the end offsets seen at the start.

    A fresh reader gets a second try: once in ~6 CI runs a reader of a just-written topic
    received nothing for its whole timeout (the errors it saw are in the failure message).
    """
    try:
        return _read_topic(bootstrap, topic, timeout_s)
    except _IncompleteReadError:
        return _read_topic(bootstrap, topic, timeout_s)


class _IncompleteReadError(AssertionError):
    pass


def _read_topic(bootstrap: str, topic: str, timeout_s: float) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            # A fetch racing a new topic's first write can be answered "offset out of range";
            # the default reset (latest) would then skip the records this reader is for.
            "auto.offset.reset": "earliest",
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = sorted(metadata.topics[topic].partitions)
        ends: dict[int, int] = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        records: list[Any] = []
        errors: list[str] = []
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                errors.append(str(msg.error()))
                continue
            records.append(msg)
            partition, offset = msg.partition(), msg.offset()
            assert partition is not None
            assert offset is not None
            if offset + 1 >= ends.get(partition, 0):
                ends.pop(partition, None)
        if ends:
            raise _IncompleteReadError(
                f"could not read {topic} to its end {ends} within {timeout_s} s "
                f"(errors seen: {errors[-3:] or 'none'})"
            )
        return sorted(records, key=lambda m: (m.partition(), m.offset()))
    finally:
        consumer.close()


@pytest.fixture
def read_back(kafka_bootstrap: str) -> ReadTopic:
    return lambda topic: read_topic(kafka_bootstrap, topic)
