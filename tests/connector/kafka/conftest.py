"""Fixtures of the Kafka layer tests: read a topic back (the dead-letter tests' reader)."""

from __future__ import annotations

import pytest

from tests.connector.dead_letters.conftest import ReadTopic, read_topic


@pytest.fixture
def read_back(kafka_bootstrap: str) -> ReadTopic:
    return lambda topic: read_topic(kafka_bootstrap, topic)
