"""Fixtures of the mapping store tests: stores on unique topics, closed and deleted afterwards."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from connector.mapping_store import KafkaMappingStore

MakeStore = Callable[..., KafkaMappingStore]


@pytest.fixture
def integration_uuid() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def mapping_topic(unique_topic: Callable[[str], str], admin: AdminClient) -> Iterator[str]:
    """A fresh mapping-topic name; the topic (if something created it) is deleted afterwards."""
    topic = unique_topic("mappings")
    yield topic
    for future in admin.delete_topics([topic], operation_timeout=30).values():
        with contextlib.suppress(KafkaException):  # never created (e.g. refused earlier)
            future.result(timeout=30)


@pytest.fixture
def delete_mapping_topic(admin: AdminClient, mapping_topic: str) -> Callable[[], None]:
    """`delete_mapping_topic()` deletes the topic under a running store and returns once the
    broker no longer lists it: the controller accepts a deletion before the broker applies
    it, and until then the partition's leader may still acknowledge a write (seen in CI)."""

    def delete() -> None:
        admin.delete_topics([mapping_topic], operation_timeout=30)[mapping_topic].result(30)
        deadline = time.monotonic() + 30
        while mapping_topic in admin.list_topics(timeout=10).topics:
            assert time.monotonic() < deadline, f"the broker still lists {mapping_topic} after 30 s"
            time.sleep(0.05)

    return delete


@pytest.fixture
def make_store(
    kafka_bootstrap: str, mapping_topic: str, integration_uuid: str
) -> Iterator[MakeStore]:
    """`make_store(**overrides)` → an unstarted store on `mapping_topic`; closed after the test."""
    stores: list[KafkaMappingStore] = []

    def make(**overrides: Any) -> KafkaMappingStore:
        kwargs: dict[str, Any] = {
            "integration_uuid": integration_uuid,
            "topic": mapping_topic,
            "client_config": {"bootstrap.servers": kafka_bootstrap},
        }
        kwargs.update(overrides)
        store = KafkaMappingStore(**kwargs)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()
