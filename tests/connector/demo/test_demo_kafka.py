"""`iec-connector demo` end to end against the real broker, read as a user reads it."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from typer.testing import Result

from connector.demo import CatalogueShape, plan_demo

RunDemo = Callable[..., Result]

pytestmark = pytest.mark.kafka

_PRODUCTS = 40


def _figure(output: str, label: str, pattern: str) -> tuple[int, ...]:
    match = re.search(rf"^{label}\s+{pattern}", output, re.MULTILINE)
    assert match, f"no {label!r} line in the summary:\n{output}"
    return tuple(int(group.replace(",", "")) for group in match.groups())


def test_demo_carries_the_catalogue_into_the_fake_magento_store(
    kafka_bootstrap: str, run_demo: RunDemo
) -> None:
    plan = plan_demo(kafka_bootstrap, products=_PRODUCTS)
    shape = CatalogueShape(products=_PRODUCTS)
    assert len(plan.mutations) > shape.products  # families, categories... and updates too

    result = run_demo("--products", str(_PRODUCTS), "--bootstrap-servers", kafka_bootstrap)

    out = result.output
    assert result.exit_code == 0, out
    (published,) = _figure(out, "published", r"(\d+) mutations")
    handled, batches = _figure(out, "handled", r"(\d+) in (\d+) batches")
    (dead_letters,) = _figure(out, "dead letters", r"(\d+)")
    (errors,) = _figure(out, "errors", r"(\d+)")
    (lag,) = _figure(out, "committed lag", r"(\d+)")
    mappings, live, aliases = _figure(
        out, "mappings", r"(\d+) on the mapping topic \((\d+) live entities \+ (\d+) code aliases\)"
    )
    assert published == len(plan.mutations)
    assert handled == published
    assert 1 <= batches <= handled
    assert dead_letters == 0
    assert errors == 0
    assert lag == 0
    assert live == plan.live_entities
    assert mappings == live + aliases
    live_products = plan.live_entities - shape.families - shape.attributes - shape.categories
    assert re.search(rf"products\s+│\s+{live_products}\s+│\s+{live_products}", out), out
    assert re.search(r"POST\s+│\s+\d+", out), "no HTTP calls table"
    assert "demo OK" in out


def test_a_second_demo_run_starts_from_zero_on_its_own_topics(
    kafka_bootstrap: str, run_demo: RunDemo
) -> None:
    args = ("--products", "10", "--bootstrap-servers", kafka_bootstrap, "--driver", "example")
    first, second = run_demo(*args), run_demo(*args)

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    # Same figures, not accumulated: new topics, group, mappings and metric series.
    for label, pattern in (("handled", r"(\d+) in"), ("mappings", r"(\d+) on")):
        assert _figure(first.output, label, pattern) == _figure(second.output, label, pattern)
    prefixes = [re.findall(r"prefix (demo-\S+)", r.output) for r in (first, second)]
    assert len(prefixes[0]) == len(prefixes[1]) == 1
    assert prefixes[0] != prefixes[1]
