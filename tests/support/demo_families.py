"""A demo plan with its topics made and only its families published: a connector run that
can handle those and then waits for more (tests of how a run ends)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient

from connector.demo import DemoPlan, delete_run, demo_registry, plan_demo, publish_mutations
from connector.demo.targets import DemoTarget
from connector.driver_registry import DriverRegistry
from connector.topic_admin import apply_plan, plan_topics
from contracts import MutationData

__all__ = ["FamiliesPublished", "families_published"]


@dataclass(frozen=True)
class FamiliesPublished:
    plan: DemoPlan
    registry: DriverRegistry
    families: tuple[MutationData, ...]


@contextmanager
def families_published(
    kafka_bootstrap: str, admin: AdminClient, target: DemoTarget
) -> Iterator[FamiliesPublished]:
    """Plan a two-product demo into `target`, make its topics, publish its families; the
    run's topics and group are deleted on exit."""
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
        yield FamiliesPublished(plan, registry, families)
    finally:
        delete_run(plan, admin, topic_plan.names())
