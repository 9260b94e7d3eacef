"""`DemoSummary`: the figures of one demo run, what a correct run must show, and a rich view."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from connector.demo.connector_run import ConnectorRun
from connector.demo.targets import TargetReport

__all__ = ["DemoSummary", "render_summary"]

_OPERATIONS = ("created", "updated", "deleted")


@dataclass(frozen=True, slots=True)
class DemoSummary:
    run_id: str
    integration_uuid: str
    published: int
    publish_seconds: float
    expected: Counter[tuple[str, str]]
    """Published mutations per (entity type, operation)."""
    run: ConnectorRun
    committed_lag: int | None
    """Records beyond the committed offsets after the stop (None: could not be read)."""
    mappings: int | None
    """Mappings on the mapping topic after the stop (None: could not be read)."""
    live_entities: int
    elapsed_seconds: float
    expected_mappings: int | None = None
    """Mappings a correct run leaves (None: one per live entity)."""
    target: TargetReport | None = None
    """What the downstream holds, and how it differs from the catalogue."""
    target_description: str = "the example driver"

    @property
    def wanted_mappings(self) -> int:
        return self.live_entities if self.expected_mappings is None else self.expected_mappings

    @property
    def problems(self) -> list[str]:
        """Everything that differs from a correct run (empty: the demo succeeded)."""
        figures = self.run.figures
        out: list[str] = []
        if self.run.stopped_early:
            out.append(self.run.stopped_early)
        if figures.handled_total != self.published:
            out.append(f"handled {figures.handled_total} of {self.published} published mutations")
        elif figures.handled != self.expected:
            out.append("handled as many mutations as published, but of other types or operations")
        if figures.dead_letters:
            out.append(f"{figures.dead_letters} record(s) went to the dead-letter topic")
        if self.committed_lag is None:
            out.append("the committed offsets could not be read back")
        elif self.committed_lag:
            out.append(f"{self.committed_lag} record(s) left uncommitted")
        if self.mappings is not None and self.mappings != self.wanted_mappings:
            out.append(f"{self.mappings} mappings stored, expected {self.wanted_mappings}")
        if self.target is not None:
            out += self.target.problems
        return out

    @property
    def ok(self) -> bool:
        return not self.problems


def _handled_table(summary: DemoSummary) -> Table:
    handled = summary.run.figures.handled
    table = Table(title="Mutations handled (published)", title_justify="left", expand=False)
    table.add_column("entity type")
    for op in _OPERATIONS:
        table.add_column(op, justify="right")
    table.add_column("total", justify="right", style="bold")
    types = sorted({t for t, _ in summary.expected} | {t for t, _ in handled})
    for entity_type in types:
        cells = []
        for op in _OPERATIONS:
            got, want = handled[(entity_type, op)], summary.expected[(entity_type, op)]
            cells.append(_cell(got, want))
        got_total = sum(n for (t, _), n in handled.items() if t == entity_type)
        want_total = sum(n for (t, _), n in summary.expected.items() if t == entity_type)
        table.add_row(entity_type, *cells, _cell(got_total, want_total))
    table.add_row(
        Text("all", style="bold"),
        *(
            _cell(
                sum(n for (_, o), n in handled.items() if o == op),
                sum(n for (_, o), n in summary.expected.items() if o == op),
            )
            for op in _OPERATIONS
        ),
        _cell(summary.run.figures.handled_total, summary.published),
    )
    return table


def _cell(got: int, want: int) -> Text:
    if got == want:
        return Text(f"{got}" if want else "-", style="green" if want else "dim")
    return Text(f"{got} ({want})", style="bold red")


def _figures_table(summary: DemoSummary) -> Table:
    run, figures = summary.run, summary.run.figures
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column()

    def warn(value: int | None, good: int = 0) -> Text:
        if value is None:
            return Text("unknown", style="yellow")
        return Text(f"{value}", style="green" if value == good else "bold red")

    table.add_row(
        "published",
        f"{summary.published} mutations in {summary.publish_seconds:.2f} s "
        f"({_rate(summary.published, summary.publish_seconds)}/s)",
    )
    table.add_row("handled", f"{figures.handled_total} in {figures.batches} batches")
    table.add_row(
        "throughput",
        f"{_rate(figures.done, run.handling_seconds)} records/s "
        f"({run.handling_seconds:.2f} s from partitions assigned to caught up)",
    )
    table.add_row(
        "start-up",
        f"{run.startup_seconds:.2f} s (topics checked, mappings restored, group joined); "
        f"graceful stop {run.stop_seconds:.2f} s",
    )
    table.add_row("errors", warn(figures.errors))
    table.add_row("retries", warn(figures.retries))
    table.add_row("dead letters", warn(figures.dead_letters))
    table.add_row("committed lag", warn(summary.committed_lag))
    mappings = warn(summary.mappings, summary.wanted_mappings)
    aliases = summary.wanted_mappings - summary.live_entities
    if summary.wanted_mappings == 0:
        detail = " on the mapping topic (the driver keeps none)"
    else:
        detail = f" on the mapping topic ({summary.live_entities} live entities" + (
            f" + {aliases} code aliases)" if aliases else ")"
        )
    mappings.append(detail, style="")
    table.add_row("mappings", mappings)
    table.add_row("metrics", run.metrics_url or "not served")
    table.add_row("elapsed", f"{summary.elapsed_seconds:.1f} s in all")
    table.add_row("driver", summary.target_description)
    table.add_row("run", f"{summary.run_id} (integration {summary.integration_uuid})")
    return table


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}" if seconds > 0 else "-"


def render_summary(summary: DemoSummary) -> RenderableType:
    """Both tables and a verdict line."""
    verdict = (
        Text("demo OK: every published mutation was handled and committed", style="bold green")
        if summary.ok
        else Text("demo FAILED: " + "; ".join(summary.problems), style="bold red")
    )
    parts: list[RenderableType] = [_handled_table(summary), Text("")]
    if summary.target is not None:
        parts += [summary.target.view, Text("")]
    return Group(*parts, _figures_table(summary), Text(""), verdict)
