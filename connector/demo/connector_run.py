"""Running the connector in-process until it has handled every published mutation.

Protocol:

1. Start `ConnectorApp` with the plan's settings (topics checked, mappings restored, driver
   opened, consumer group joined: the *start-up*).
2. Poll the integration's counters until handled + dead-lettered reaches the published
   count (*caught up*), the app stops by itself (failure or signal), the timeout (if any)
   passes, or nothing has finished for `stall_s`: a large catalogue into a slow downstream
   takes as long as it takes, a run that stopped making progress does not.
   Each time the records published so far are done, publish the next phase (`feed`).
3. Ask the app to stop: it finishes the in-flight batch, commits, leaves the group.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from connector.config import check_integrations
from connector.demo.figures import IntegrationFigures, read_figures
from connector.demo.plan import DemoPlan
from connector.driver_registry import DriverRegistry
from connector.metrics import METRICS, ConnectorMetrics
from connector.runtime.app import EXIT_FAILED, EXIT_OK, ConnectorApp
from contracts import ConfigValidationError

__all__ = ["ConnectorRun", "RunPhase", "run_until_caught_up"]

_POLL_S = 0.02
"""How often the run reads the counters: also the resolution of its "caught up" time."""
_REPORT_S = 0.5
_STOP_TIMEOUT_S = 60.0

RunPhase = str
""""starting" (start-up), "handling", "stopping"."""


@dataclass(frozen=True, slots=True)
class ConnectorRun:
    """What the in-process run did; `figures` are read after the graceful stop."""

    exit_code: int
    caught_up: bool
    figures: IntegrationFigures
    startup_seconds: float
    """From `run()` until ready (topics checked, mappings restored, partitions assigned)."""
    handling_seconds: float
    """From ready until caught up (or until the run ended)."""
    stop_seconds: float
    metrics_url: str | None
    stopped_early: str | None = None
    """Why the run ended before catching up (timeout, failure, signal), else None."""

    @property
    def throughput(self) -> float:
        """Records finished per second of handling."""
        return self.figures.done / self.handling_seconds if self.handling_seconds > 0 else 0.0


async def run_until_caught_up(
    plan: DemoPlan,
    registry: DriverRegistry,
    *,
    published: int,
    timeout_s: float | None = 120.0,
    stall_s: float = 60.0,
    on_progress: Callable[[RunPhase, IntegrationFigures], None] = lambda phase, figures: None,
    install_signal_handlers: bool = False,
    metrics: ConnectorMetrics = METRICS,
    feed: Sequence[Callable[[], int]] = (),
    fed: int | None = None,
) -> ConnectorRun:
    """Run the connector on the plan until `published` records are finished; see the module.

    `fed` records are published already; each of `feed` publishes one more phase (in a
    worker thread) and returns how many records it published.
    """
    phases = list(feed)
    fed = published if fed is None else fed
    configs, problems = check_integrations(plan.settings, registry)
    if problems:
        raise ConfigValidationError(problems)
    integration = plan.integration.uuid
    app = ConnectorApp(
        plan.settings,
        registry,
        configs,
        metrics=metrics,
        install_signal_handlers=install_signal_handlers,
    )
    # 1. start
    started = time.perf_counter()
    task = asyncio.create_task(app.run(), name="demo-connector")
    ready_at: float | None = None
    metrics_url: str | None = None
    figures = read_figures(integration, metrics)
    stopped_early: str | None = None
    deadline = None if timeout_s is None else started + timeout_s
    progress_at, progress = started, -1
    # 2. wait until caught up
    while True:
        now = time.perf_counter()
        figures = read_figures(integration, metrics)
        if ready_at is None and (app.readiness()[0] or figures.done):
            ready_at = now
            if app.health_port is not None:
                metrics_url = f"http://{plan.settings.metrics.host}:{app.health_port}/metrics"
        on_progress("starting" if ready_at is None else "handling", figures)
        if figures.done >= published:
            break
        if phases and figures.done >= fed:
            fed += await asyncio.to_thread(phases.pop(0))
        if task.done():
            stopped_early = "the connector stopped before catching up"
            break
        if "failed" in app.liveness()[1]["integrations"].values():
            stopped_early = "the integration stopped on a fatal error (its message is logged)"
            await asyncio.sleep(_REPORT_S)  # the app logs the error as the integration ends
            break
        if deadline is not None and now >= deadline:
            stopped_early = f"not caught up after {timeout_s:g} s"
            break
        if figures.done != progress:
            progress_at, progress = now, figures.done
        elif now - progress_at >= stall_s:
            stopped_early = f"not caught up: nothing finished for {stall_s:g} s"
            break
        await asyncio.sleep(_POLL_S)
    caught_up_at = time.perf_counter()
    # 3. graceful stop
    on_progress("stopping", figures)
    app.request_stop()
    code = EXIT_FAILED
    try:
        code = await asyncio.wait_for(asyncio.shield(task), _STOP_TIMEOUT_S)
    except TimeoutError:
        task.cancel()
        stopped_early = stopped_early or f"the connector did not stop within {_STOP_TIMEOUT_S:g} s"
    except Exception as exc:  # a start-up failure: unreachable cluster, refused topic...
        stopped_early = f"the connector failed: {app.redactor.redact(str(exc))}"
    if code != EXIT_OK and stopped_early is None:
        stopped_early = f"the connector exited with status {code}"
    ready = ready_at if ready_at is not None else caught_up_at
    return ConnectorRun(
        exit_code=code,
        caught_up=stopped_early is None,
        figures=read_figures(integration, metrics),
        startup_seconds=ready - started,
        handling_seconds=caught_up_at - ready,
        stop_seconds=time.perf_counter() - caught_up_at,
        metrics_url=metrics_url,
        stopped_early=stopped_early,
    )
