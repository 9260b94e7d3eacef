"""The runtime end to end, in process, against the real broker."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from connector_env import ConnectorEnv, product_mutations
from prometheus_client.parser import text_string_to_metric_families
from recording_driver import AsyncRecordingDriver, RecordingDriver, read_batches

from connector.config import load_and_validate
from connector.driver_registry import DriverRegistry
from connector.runtime.app import EXIT_OK, ConnectorApp
from drivers.example import ExampleDriver

pytestmark = pytest.mark.kafka

REGISTRY = DriverRegistry.from_classes(
    {
        "recording": RecordingDriver,
        "recording-async": AsyncRecordingDriver,
        "example": ExampleDriver,
    }
)


def handled(path: Path) -> list[list[Any]]:
    return [item for batch in read_batches(str(path)) for item in batch["batch"]]


async def run_until(app: ConnectorApp, done: Callable[[], bool], limit_s: float = 60.0) -> int:
    task = asyncio.create_task(app.run())
    deadline = time.monotonic() + limit_s
    while not done():
        if task.done():
            return task.result()
        assert time.monotonic() < deadline, "the connector did not catch up in time"
        await asyncio.sleep(0.1)
    app.request_stop()
    return await asyncio.wait_for(task, 30)


@pytest.mark.parametrize("driver", ["recording", "recording-async"])
async def test_every_mutation_is_handled_in_per_key_order_within_batch_limits(
    connector_env: ConnectorEnv, driver: str
) -> None:
    env = connector_env
    env.create_mutation_topics(["product", "category"])
    mutations = product_mutations(40, 5) + product_mutations(10, 2, "category")
    env.publish(mutations)
    path = env.config(
        driver=driver,
        entity_types=["product", "category"],
        batch={"max_records": 7, "linger_ms": 20},
    )
    settings, configs = load_and_validate(path, REGISTRY)
    app = ConnectorApp(settings, REGISTRY, configs, install_signal_handlers=False)

    code = await run_until(app, lambda: len(handled(env.output)) >= len(mutations))

    assert code == EXIT_OK
    batches = read_batches(str(env.output))
    assert all(len(b["batch"]) <= 7 for b in batches)
    assert all({item[0].split("-")[0] for item in b["batch"]} == {b["type"]} for b in batches)
    versions: dict[str, list[int]] = defaultdict(list)
    for uuid, _op, version in handled(env.output):
        versions[uuid].append(version)
    assert len(versions) == 50
    for uuid, seen in versions.items():
        assert seen == sorted(seen), f"{uuid} handled out of order: {seen}"
        assert seen[-1] == (5 if uuid.startswith("product") else 2)
    # offsets committed for everything handled, nothing beyond
    topic = env.topics.mutation_topic("product")
    assert env.committed(topic, 3) == env.end_offsets(topic, 3)


async def test_driver_lifecycle_hooks_and_bindings_happen_before_the_first_mutation(
    connector_env: ConnectorEnv,
) -> None:
    env = connector_env
    env.create_mutation_topics(["product"])
    env.publish(product_mutations(3, 1))
    settings, configs = load_and_validate(env.config(), REGISTRY)
    app = ConnectorApp(settings, REGISTRY, configs, install_signal_handlers=False)
    await run_until(app, lambda: len(handled(env.output)) >= 3)
    integration = app._integrations[0]
    driver = integration.driver
    assert isinstance(driver, RecordingDriver)
    assert driver.opened
    assert driver.closed
    assert driver.integration_data["uuid"] == env.integration_uuid
    assert driver.logger.name == "iec.integration.test-integration"
    assert driver.context.integration_uuid == env.integration_uuid
    assert driver.mapping_service is integration.store


async def test_metrics_and_health_endpoints_report_the_run(connector_env: ConnectorEnv) -> None:
    env = connector_env
    env.create_mutation_topics(["product"])
    env.publish(product_mutations(20, 1))
    settings, configs = load_and_validate(env.config(), REGISTRY)
    app = ConnectorApp(settings, REGISTRY, configs, install_signal_handlers=False)
    task = asyncio.create_task(app.run())
    try:
        deadline = time.monotonic() + 60
        while len(handled(env.output)) < 20:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        port = app.health_port
        assert port
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            ready = await client.get("/readyz")
            live = await client.get("/healthz")
            metrics = (await client.get("/metrics")).text
        assert ready.status_code == 200, ready.text
        assert live.status_code == 200, live.text
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(metrics)
            for sample in family.samples
        }
        key = (
            "iec_connector_records_handled_total",
            (
                ("entity_type", "product"),
                ("integration", env.integration_uuid),
                ("operation", "created"),
            ),
        )
        assert samples[key] == 20
        assert "iec_connector_handle_duration_seconds_bucket" in metrics
        assert "iec_connector_batch_size_records_bucket" in metrics
    finally:
        app.request_stop()
        assert await asyncio.wait_for(task, 30) == EXIT_OK


async def test_consumer_lag_per_partition_is_exported_and_drains_to_zero(
    connector_env: ConnectorEnv,
) -> None:
    env = connector_env
    env.create_mutation_topics(["product"], partitions=2)
    # Ten slow batches (3 s): librdkafka reports lag -1 (left out) until it knows a committed
    # offset, and under load the first commit's answer can take a while.
    env.publish(product_mutations(100, 1))
    config = env.config(
        driver_config={"output_path": str(env.output), "sleep_ms": 300},
        batch={"max_records": 10, "linger_ms": 10},
        concurrency=1,  # one slow batch at a time: the lag is visible for a while
        kafka={
            "extra": {
                "statistics.interval.ms": "200",
                "auto.commit.interval.ms": "200",
                "session.timeout.ms": "6000",
            }
        },
    )
    settings, configs = load_and_validate(config, REGISTRY)
    app = ConnectorApp(settings, REGISTRY, configs, install_signal_handlers=False)
    gauge = app.metrics.consumer_lag
    topic = env.topics.mutation_topic("product")
    seen: list[float] = []

    def lags() -> list[float]:
        return [
            sample.value
            for metric in gauge.collect()
            for sample in metric.samples
            if sample.labels["integration"] == env.integration_uuid
            and sample.labels["topic"] == topic
        ]

    def drained() -> bool:
        # Sampled on every check, not only once all are handled: by then the lag may be 0.
        current = lags()
        seen.extend(current)
        return (
            len(handled(env.output)) >= 100 and len(current) == 2 and all(v == 0 for v in current)
        )

    code = await run_until(app, drained)
    assert code == EXIT_OK
    assert max(seen) > 0, "lag was never seen above zero while the slow driver worked"
