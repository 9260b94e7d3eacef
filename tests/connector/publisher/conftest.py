"""Fixtures for the publisher tests: a reader of what they published."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from confluent_kafka import Consumer, Message

Consume = Callable[[Sequence[str], int], list[Message]]


@pytest.fixture
def consume(kafka_bootstrap: str) -> Consume:
    """`consume(topics, count)` reads `count` records from the start of `topics` (30 s max)."""

    def read(topics: Sequence[str], count: int) -> list[Message]:
        consumer = Consumer(
            {
                "bootstrap.servers": kafka_bootstrap,
                "group.id": f"test-reader-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        messages: list[Message] = []
        deadline = time.monotonic() + 30
        try:
            consumer.subscribe(list(topics))
            while len(messages) < count and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None:
                    continue
                error: Any = message.error()
                if error is not None:
                    raise AssertionError(f"consumer error: {error}")
                messages.append(message)
        finally:
            consumer.close()
        return messages

    return read
