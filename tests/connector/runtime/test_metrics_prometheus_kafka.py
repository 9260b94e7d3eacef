"""The connector's /metrics under a real Prometheus: promtool's linter accepts it, and a
Prometheus server scraping a running connector answers the dashboard's main panels."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from connector_env import ConnectorEnv, product_mutations
from prometheus_server import PrometheusServer, tool
from recording_driver import RecordingDriver, read_batches

from connector.config import load_and_validate
from connector.driver_registry import DriverRegistry
from connector.runtime.app import EXIT_OK, ConnectorApp
from contracts import MutationData

pytestmark = pytest.mark.kafka

DRIVERS = DriverRegistry.from_classes({"recording": RecordingDriver})
DASHBOARD = Path(__file__).resolve().parents[3] / "deploy/grafana/dashboards/iec-connector.json"
# The overview row and the latency panel: what an operator opens the dashboard for.
MAIN_PANELS = (
    "Integrations running",
    "Handled / s",
    "Consumer lag",
    "Dead letters (range)",
    "Assigned partitions",
    "handle_batch duration p50 / p95 / p99",
)


def handled_count(path: Path) -> int:
    return sum(len(batch["batch"]) for batch in read_batches(str(path)))


def panel_queries(title: str, integration: str = ".*") -> list[str]:
    """The panel's PromQL with Grafana's variables replaced as Grafana would for a view of
    `integration` (a regex: the dashboard's variable; the process's registry also holds the
    series of integrations that other tests ran)."""
    dashboard = json.loads(DASHBOARD.read_text())
    panel = next(p for p in dashboard["panels"] if p.get("title") == title)
    replacements = {
        "$integration": integration,
        "$__rate_interval": "1m",
        "$__range": "1m",
    }
    queries = []
    for target in panel["targets"]:
        expr = str(target["expr"])
        for variable, value in replacements.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        queries.append(expr)
    return queries


def slow_config(env: ConnectorEnv, poison: list[str]) -> Path:
    """Batches of 10 taking 150 ms each: records flow for several scrapes; `poison`
    entities are dead-lettered; statistics (lag) every 500 ms."""
    return env.config(
        driver_config={"output_path": str(env.output), "sleep_ms": 150, "poison_uuids": poison},
        batch={"max_records": 10, "linger_ms": 10},
        retry={"max_attempts": 2, "initial_backoff_ms": 20, "max_backoff_ms": 50},
        kafka={
            "extra": {
                "statistics.interval.ms": "500",
                "session.timeout.ms": "6000",
                "heartbeat.interval.ms": "500",
            }
        },
    )


async def test_metrics_pass_promtool_and_prometheus_answers_the_dashboard_panels(
    connector_env: ConnectorEnv, tmp_path: Path
) -> None:
    env = connector_env
    env.create_mutation_topics(["product"], partitions=2)
    mutations = product_mutations(entities=40, versions=60)
    waves = [mutations[i : i + 40] for i in range(0, len(mutations), 40)]  # one per version
    settings, configs = load_and_validate(slow_config(env, ["product-00007"]), DRIVERS)
    app = ConnectorApp(settings, DRIVERS, configs, install_signal_handlers=False)
    task = asyncio.create_task(app.run())
    answered_all = asyncio.Event()  # also stops the publisher when the test fails
    try:
        deadline = time.monotonic() + 60
        while not app.health_port:
            assert time.monotonic() < deadline, "the metrics server did not start"
            await asyncio.sleep(0.1)
        target = f"127.0.0.1:{app.health_port}"
        with PrometheusServer(tmp_path / "prometheus", [target], scrape_s=1.0) as prometheus:
            # 1. Records arrive in waves while Prometheus scrapes (a counter's first sample
            #    counts as no increase: a poisoned record in every wave keeps them rising).
            publishing = asyncio.create_task(
                _publish_in_waves(env, waves, pause_s=1.0, until=answered_all)
            )
            while handled_count(env.output) < 20:
                assert time.monotonic() < deadline, "nothing was handled"
                await asyncio.sleep(0.1)
            # 2. Lint what Prometheus scrapes, while the connector works.
            lint = await asyncio.to_thread(_lint, f"http://{target}/metrics")
            assert lint.returncode == 0, lint.stdout + lint.stderr
            # 3. Ask the dashboard's questions until each has had an answer with data (under
            #    load one snapshot rarely has them all: a quiet window makes a quantile NaN).
            deadline = time.monotonic() + 90
            answered: dict[str, list[list[dict[str, Any]]]] = {}
            while len(answered) < len(MAIN_PANELS):
                for title in MAIN_PANELS:
                    if title in answered:
                        continue
                    queries = panel_queries(title, env.integration_uuid)
                    results = [await asyncio.to_thread(prometheus.query, q) for q in queries]
                    if all(results) and LIVELY[title](results):
                        answered[title] = results
                assert time.monotonic() < deadline, (
                    f"no data yet for {set(MAIN_PANELS) - set(answered)}"
                )
                await asyncio.sleep(1.0)
            assert prometheus.targets_up() == [f"http://{target}/metrics"]
            answered_all.set()
            await publishing
    finally:
        answered_all.set()
        app.request_stop()
        assert await asyncio.wait_for(task, 30) == EXIT_OK
    assert _value(answered["Integrations running"][0]) == 1


async def _publish_in_waves(
    env: ConnectorEnv, waves: list[list[MutationData]], pause_s: float, until: asyncio.Event
) -> None:
    """A wave a second until `until` is set (or the waves run out)."""
    for wave in waves:
        if until.is_set():
            return
        await asyncio.to_thread(env.publish, wave)
        await asyncio.sleep(pause_s)


def _lint(url: str) -> subprocess.CompletedProcess[str]:
    """`promtool check metrics` on what `url` serves now."""
    return subprocess.run(
        [tool("promtool"), "check", "metrics"],
        input=httpx.get(url, timeout=10).text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _value(results: list[dict[str, Any]]) -> float:
    return sum(float(item["value"][1]) for item in results)


Answer = list[list[dict[str, Any]]]
# What "an answer with data" means per panel (a quantile of a window without observations is
# NaN, which compares false).
LIVELY: dict[str, Callable[[Answer], bool]] = {
    "Integrations running": lambda a: _value(a[0]) == 1,
    "Handled / s": lambda a: _value(a[0]) > 0,
    "Consumer lag": lambda a: True,
    "Dead letters (range)": lambda a: _value(a[0]) >= 1,
    "Assigned partitions": lambda a: _value(a[0]) >= 2,  # the mutation and retry topics
    "handle_batch duration p50 / p95 / p99": lambda a: all(_value(r) > 0 for r in a),
}


def test_panel_queries_have_every_variable_replaced() -> None:
    for title in MAIN_PANELS:
        for query in panel_queries(title):
            assert not re.search(r"\$\w", query)
