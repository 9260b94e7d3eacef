"""`plan_demo` and `DemoSummary` without a broker: what a run uses and what counts as correct."""

from __future__ import annotations

from collections import Counter

from connector.config import check_integrations
from connector.demo import ConnectorRun, DemoSummary, IntegrationFigures, demo_registry, plan_demo
from connector.topic_admin import TopicKind, plan_topics


def test_every_plan_has_its_own_topics_group_and_integration() -> None:
    first, second = plan_demo("127.0.0.1:9092"), plan_demo("127.0.0.1:9092")

    assert first.run_id != second.run_id
    assert first.integration.uuid != second.integration.uuid
    names = [set(plan_topics(p.settings, demo_registry()).names()) for p in (first, second)]
    assert not names[0] & names[1]
    assert all(name.startswith(first.run_id) for name in names[0])


def test_the_plan_validates_against_the_example_driver_and_covers_all_four_types() -> None:
    plan = plan_demo("127.0.0.1:9092", products=25)

    configs, problems = check_integrations(plan.settings, demo_registry())
    assert problems == []
    assert set(configs) == {plan.integration.uuid}
    topic_plan = plan_topics(plan.settings, demo_registry())
    assert {s.name for s in topic_plan.of_kind(TopicKind.MUTATIONS)} == {
        plan.topics.mutation_topic(t) for t in ("product", "category", "attribute", "family")
    }
    assert {t for t, _ in plan.expected} == {"product", "category", "attribute", "family"}


def test_live_entities_are_the_created_ones_minus_the_deleted_ones() -> None:
    plan = plan_demo("127.0.0.1:9092", products=100)
    ops = Counter(op for (_t, op), n in plan.expected.items() for _ in range(n))

    assert ops["deleted"] > 0
    assert plan.live_entities == ops["created"] - ops["deleted"]
    assert sum(plan.expected.values()) == len(plan.mutations)


def _summary(handled: Counter[tuple[str, str]], **changes: int | None) -> DemoSummary:
    figures = IntegrationFigures(
        handled=handled,
        batches=2,
        dead_letters=int(changes.pop("dead_letters", 0) or 0),
    )
    run = ConnectorRun(
        exit_code=0,
        caught_up=True,
        figures=figures,
        startup_seconds=0.5,
        handling_seconds=1.0,
        stop_seconds=0.1,
        metrics_url=None,
    )
    fields: dict[str, int | None] = {"committed_lag": 0, "mappings": 3, **changes}
    return DemoSummary(
        run_id="demo-x",
        integration_uuid="u",
        published=4,
        publish_seconds=0.1,
        expected=Counter({("product", "created"): 3, ("product", "deleted"): 1}),
        run=run,
        live_entities=2,
        elapsed_seconds=2.0,
        committed_lag=fields["committed_lag"],
        mappings=fields["mappings"],
    )


def test_a_summary_is_ok_only_when_everything_matches_a_correct_run() -> None:
    all_handled = Counter({("product", "created"): 3, ("product", "deleted"): 1})

    assert _summary(all_handled, mappings=2).ok
    assert _summary(all_handled, mappings=2).run.throughput == 4.0
    assert _summary(all_handled, mappings=3).problems == ["3 mappings stored, expected 2"]
    assert _summary(all_handled, mappings=2, committed_lag=1).problems == [
        "1 record(s) left uncommitted"
    ]
    short = _summary(Counter({("product", "created"): 3}), mappings=2, dead_letters=1)
    assert short.problems == [
        "handled 3 of 4 published mutations",
        "1 record(s) went to the dead-letter topic",
    ]
    swapped = Counter({("product", "created"): 2, ("product", "updated"): 2})
    assert _summary(swapped, mappings=2).problems == [
        "handled as many mutations as published, but of other types or operations"
    ]
