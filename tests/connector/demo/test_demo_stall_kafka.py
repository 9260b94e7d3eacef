"""The demo's connector run gives up when nothing finishes any more, not after a fixed time."""

from __future__ import annotations

import asyncio
import time

import pytest
from confluent_kafka.admin import AdminClient
from demo_families import families_published

from connector.demo.connector_run import run_until_caught_up
from connector.demo.targets import DemoOptions, ExampleTarget

pytestmark = pytest.mark.kafka


def test_a_run_that_stops_making_progress_gives_up_after_the_stall_time(
    kafka_bootstrap: str, admin: AdminClient
) -> None:
    with families_published(kafka_bootstrap, admin, ExampleTarget(DemoOptions())) as run_on:
        started = time.monotonic()
        # More than was published: once the families are handled nothing else comes.
        run = asyncio.run(
            run_until_caught_up(
                run_on.plan,
                run_on.registry,
                published=len(run_on.families) + 5,
                timeout_s=None,
                stall_s=2.0,
            )
        )
        took = time.monotonic() - started

    assert not run.caught_up
    assert run.stopped_early == "not caught up: nothing finished for 2 s"
    assert run.figures.done == len(run_on.families)  # it did make progress before stalling
    assert took < 30
