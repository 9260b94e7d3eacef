"""End to end through the real broker: the demo catalogue published, the connector running
the magento2 driver, and the fake store holding exactly that catalogue, entity by entity,
although the store throttled, was unavailable and deadlocked now and then."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from confluent_kafka.admin import AdminClient
from demo_families import families_published

from connector.demo import delete_run, demo_registry, plan_demo, publish_mutations
from connector.demo.connector_run import run_until_caught_up
from connector.demo.magento_target import (
    MagentoTarget,
    compare_catalogue,
    held_catalogue,
    published_catalogue,
)
from connector.demo.targets import DemoOptions
from connector.topic_admin import apply_plan, plan_topics
from contracts import MutationData

pytestmark = pytest.mark.kafka


def test_the_catalogue_lands_in_the_store_through_throttling_outages_and_deadlocks(
    kafka_bootstrap: str, admin: AdminClient
) -> None:
    target = MagentoTarget(DemoOptions())
    target.start()
    store = target.store
    assert store is not None
    faults = [
        store.faults.inject("rate_limit", times=2, rate=0.05, retry_after_s=1),
        store.faults.inject("unavailable", times=2, rate=0.05),
        store.faults.inject("deadlock", times=2, method="POST", rate=0.1),
    ]
    plan = plan_demo(kafka_bootstrap, products=30, target=target)
    registry = demo_registry(target)
    topic_plan = plan_topics(plan.settings, registry)
    try:
        assert all(r.ok for r in apply_plan(admin, topic_plan))
        phases = target.phases(plan.mutations)
        config = plan.settings.kafka.client_config()

        def feeder(phase: tuple[MutationData, ...]) -> Callable[[], int]:
            return lambda: (
                publish_mutations(
                    phase,
                    bootstrap_servers=kafka_bootstrap,
                    topics=plan.topics,
                    client_config=config,
                ).acknowledged
            )

        fed = feeder(phases[0])()
        run = asyncio.run(
            run_until_caught_up(
                plan, registry, published=len(plan.mutations), timeout_s=120,
                feed=[feeder(p) for p in phases[1:]], fed=fed,
            )
        )  # fmt: skip
    finally:
        target.stop()
        delete_run(plan, admin, topic_plan.names())

    assert run.caught_up, run.stopped_early
    assert run.figures.dead_letters == 0
    assert run.figures.handled_total == len(plan.mutations)
    assert [f.fired for f in faults] == [2, 2, 2], "every injected fault was met"
    assert run.figures.retries >= 1
    expected = published_catalogue(plan.mutations)
    assert expected["product"], "the catalogue has products"
    assert compare_catalogue(expected, held_catalogue(store)) == []
    assert store.violations == []
    assert store.created["product"] == 30  # each created once, none twice


def test_a_401_stops_the_integration_with_its_message_and_dead_letters_nothing(
    kafka_bootstrap: str, admin: AdminClient, caplog: pytest.LogCaptureFixture
) -> None:
    target = MagentoTarget(DemoOptions())
    target.start()
    assert target.store is not None
    target.store.denied_resources.add("Magento_Catalog::sets")  # the integration lacks it
    try:
        with families_published(kafka_bootstrap, admin, target) as run_on:
            run = asyncio.run(
                run_until_caught_up(
                    run_on.plan, run_on.registry, published=len(run_on.families), timeout_s=60
                )
            )
    finally:
        target.stop()

    assert not run.caught_up
    assert run.exit_code != 0
    assert run.figures.dead_letters == 0
    assert run.figures.handled_total == 0
    assert "Magento_Catalog::sets" in caplog.text
    assert "consumer_key" in caplog.text
    assert target.store.credentials.consumer_secret not in caplog.text
