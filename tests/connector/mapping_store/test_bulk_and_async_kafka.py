"""The mapping store's bulk and awaitable writes against a real broker: one flush per call,
durable and visible on return, and a failed write leaves the view as it was."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from prometheus_client import CollectorRegistry

from connector.metrics import ConnectorMetrics
from contracts import (
    AsyncMappingService,
    EntityMappingService,
    MappingData,
    MappingServiceExtensions,
    NewMapping,
    TransientError,
)

if TYPE_CHECKING:
    from tests.connector.mapping_store.conftest import MakeStore

pytestmark = pytest.mark.kafka


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def _sample(registry: CollectorRegistry, name: str, integration: str) -> float:
    value = registry.get_sample_value(name, {"integration": integration})
    return 0.0 if value is None else value


def test_the_store_implements_every_mapping_contract(make_store: MakeStore) -> None:
    store = make_store()
    assert isinstance(store, EntityMappingService)
    assert isinstance(store, MappingServiceExtensions)
    assert isinstance(store, AsyncMappingService)


def test_create_many_of_250_is_one_flush_and_durable(
    make_store: MakeStore, integration_uuid: str, registry: CollectorRegistry
) -> None:
    store = make_store(metrics=ConnectorMetrics(registry))
    store.start(timeout_s=60)
    mappings = [
        NewMapping("product", f"p-{i}", f"ext-{i}", {"sku": f"S{i}"} if i % 5 == 0 else None)
        for i in range(250)
    ]

    store.create_many(mappings, integration_uuid)

    assert store.writer.flushes == 1
    batches = "iec_connector_mapping_write_batch_records"
    assert _sample(registry, f"{batches}_count", integration_uuid) == 1
    assert _sample(registry, f"{batches}_sum", integration_uuid) == 250
    assert (
        _sample(registry, "iec_connector_mapping_write_duration_seconds_count", integration_uuid)
        == 1
    )
    found = store.find_many("product", [m.entity_uuid for m in mappings], integration_uuid)
    assert found == {
        m.entity_uuid: MappingData(external_id=m.external_id, external_data=m.external_data)
        for m in mappings
    }
    assert store.delete_many("product", [f"p-{i}" for i in range(200, 260)], integration_uuid) == 50
    assert store.writer.flushes == 2
    store.close()

    restarted = make_store()
    restarted.start(timeout_s=60)
    assert restarted.count() == 200
    assert restarted.find("product", "p-10", integration_uuid) == MappingData(
        external_id="ext-10", external_data={"sku": "S10"}
    )


async def test_concurrent_acreate_calls_from_many_tasks_are_all_durable_and_visible(
    make_store: MakeStore, integration_uuid: str
) -> None:
    store = make_store()
    await asyncio.to_thread(store.start, 60)

    async def create(i: int) -> None:
        await store.acreate("category", f"c-{i}", integration_uuid, f"ext-{i}", {"n": i})
        # Visible to this task as soon as its own call returned.
        assert await store.afind("category", f"c-{i}", integration_uuid) == MappingData(
            external_id=f"ext-{i}", external_data={"n": i}
        )

    await asyncio.gather(*(create(i) for i in range(64)))

    assert store.writes == 64
    # The 64 calls were made in one loop iteration: one group, one wait.
    assert store.writer.flushes == 1
    found = await store.afind_many("category", [f"c-{i}" for i in range(64)], integration_uuid)
    assert len(found) == 64
    await asyncio.to_thread(store.close)
    restarted = make_store()
    await asyncio.to_thread(restarted.start, 60)
    assert restarted.count() == 64


async def test_awaitable_updates_and_deletes(make_store: MakeStore, integration_uuid: str) -> None:
    store = make_store()
    await asyncio.to_thread(store.start, 60)
    await store.acreate_many(
        [NewMapping("family", f"f-{i}", f"ext-{i}") for i in range(10)], integration_uuid
    )
    await store.aupdate_external_data("family", "f-1", integration_uuid, {"v": 2})
    with pytest.raises(KeyError):
        await store.aupdate_external_data("family", "f-404", integration_uuid, {"v": 2})

    assert await store.adelete("family", "f-0", integration_uuid) is True
    assert await store.adelete("family", "f-0", integration_uuid) is False
    assert await store.adelete_many("family", ["f-2", "f-3", "f-404", "f-2"], integration_uuid) == 2

    assert await store.afind("family", "f-1", integration_uuid) == MappingData(
        external_id="ext-1", external_data={"v": 2}
    )
    remaining = await store.afind_many("family", [f"f-{i}" for i in range(10)], integration_uuid)
    assert sorted(remaining) == [f"f-{i}" for i in (1, 4, 5, 6, 7, 8, 9)]


async def test_a_failed_bulk_write_leaves_the_view_unchanged(
    make_store: MakeStore,
    delete_mapping_topic: Callable[[], None],
    mapping_topic: str,
    integration_uuid: str,
    registry: CollectorRegistry,
) -> None:
    store = make_store(write_timeout_s=1.5, metrics=ConnectorMetrics(registry))
    await asyncio.to_thread(store.start, 60)
    store.create_many(
        [NewMapping("product", f"p-{i}", f"ext-{i}") for i in range(3)], integration_uuid
    )
    # The topic disappears under the running store: no write can be acknowledged.
    delete_mapping_topic()

    changed = [NewMapping("product", f"p-{i}", f"changed-{i}") for i in range(5)]
    with pytest.raises(TransientError, match=mapping_topic):
        await store.acreate_many(changed, integration_uuid)
    with pytest.raises(TransientError, match=mapping_topic):
        await asyncio.to_thread(store.delete_many, "product", ["p-0", "p-1"], integration_uuid)

    assert store.count() == 3
    for i in range(3):
        assert await store.afind("product", f"p-{i}", integration_uuid) == MappingData(
            external_id=f"ext-{i}"
        )
    assert store.write_failures == 7
    assert _sample(registry, "iec_connector_mapping_write_failures_total", integration_uuid) == 7


async def test_a_cancelled_caller_does_not_disturb_the_others_of_its_flush(
    make_store: MakeStore, integration_uuid: str
) -> None:
    store = make_store()
    await asyncio.to_thread(store.start, 60)
    tasks = [
        asyncio.create_task(store.acreate("product", f"p-{i}", integration_uuid, f"e-{i}", None))
        for i in range(10)
    ]
    await asyncio.sleep(0)  # every task made its call: one group
    tasks[3].cancel()

    results = await asyncio.gather(*tasks, return_exceptions=True)

    assert isinstance(results[3], asyncio.CancelledError)
    assert [r for i, r in enumerate(results) if i != 3] == [None] * 9
    # Cancelling the wait does not withdraw the write: it was acknowledged with the others.
    assert store.find("product", "p-3", integration_uuid) == MappingData(external_id="e-3")
    assert store.writer.flushes == 1
