"""The demo's connector run gives up when nothing finishes any more, not after a fixed time."""

from __future__ import annotations

import asyncio
import time

import pytest
from confluent_kafka.admin import AdminClient

from connector.demo import delete_run, demo_registry, plan_demo, publish_mutations
from connector.demo.connector_run import run_until_caught_up
from connector.demo.targets import DemoOptions, ExampleTarget
from connector.topic_admin import apply_plan, plan_topics

pytestmark = pytest.mark.kafka


def test_a_run_that_stops_making_progress_gives_up_after_the_stall_time(
    kafka_bootstrap: str, admin: AdminClient
) -> None:
    target = ExampleTarget(DemoOptions())
    plan = plan_demo(kafka_bootstrap, products=2, target=target)
    registry = demo_registry(target)
    topic_plan = plan_topics(plan.settings, registry)
    families = tuple(m for m in plan.mutations if m.entity_type == "family")
    try:
        assert all(r.ok for r in apply_plan(admin, topic_plan))
        publish_mutations(
            families, bootstrap_servers=kafka_bootstrap, topics=plan.topics,
            client_config=plan.settings.kafka.client_config(),
        )  # fmt: skip
        started = time.monotonic()
        # More than was published: once the families are handled nothing else comes.
        run = asyncio.run(
            run_until_caught_up(
                plan, registry, published=len(families) + 5, timeout_s=None, stall_s=2.0
            )
        )
        took = time.monotonic() - started
    finally:
        delete_run(plan, admin, topic_plan.names())

    assert not run.caught_up
    assert run.stopped_early == "not caught up: nothing finished for 2 s"
    assert run.figures.done == len(families)  # it did make progress before stalling
    assert took < 30
