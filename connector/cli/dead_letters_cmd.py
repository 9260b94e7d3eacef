"""`iec-connector dead-letters list|show|replay`: inspect an integration's dead letters and
replay them to the integration's retry topic.

With ``--config`` the cluster (SASL/TLS included), the topic names and the schema registry come
from the connector's configuration, and ``--integration`` may be the integration's name.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from connector.cli.cluster_target import ClusterTarget, ResolveTarget, cluster_options
from connector.cli.failures import reported_failures
from connector.cli.options import CLUSTER_PANEL, DEFAULT_TOPICS, options_from
from connector.cli.output import Column, OutputFormat, OutputOption, print_json_lines, print_rows
from connector.codec import CodecError, SchemaRegistryUnavailableError
from connector.dead_letters.headers import DLT_PREFIX, DeadLetter
from connector.dead_letters.replay import ReplayTargets, read_dead_letters, replay
from connector.dead_letters.replay_plan import ReplayFilter
from contracts import ConfigurationError

__all__ = ["EXIT_KAFKA_FAILED", "EXIT_NOT_FOUND", "app"]

EXIT_KAFKA_FAILED = 1
"""The cluster could not be read, or a replay was not acknowledged."""
EXIT_NOT_FOUND = 3
"""`show`: there is no dead letter at that offset."""

app = typer.Typer(
    name="dead-letters",
    help="Inspect an integration's dead letters and replay them to that integration only.",
    no_args_is_help=True,
)

DeadLetterPrefix = Annotated[
    str, typer.Option(help="Prefix of dead-letter topics.", rich_help_panel=CLUSTER_PANEL)
]
RetryPrefix = Annotated[
    str, typer.Option(help="Prefix of retry topics.", rich_help_panel=CLUSTER_PANEL)
]
GroupPrefix = Annotated[
    str,
    typer.Option(
        help="Prefix of the integrations' consumer groups.", rich_help_panel=CLUSTER_PANEL
    ),
]
_TIME_HELP = "ISO-8601 time (UTC unless it has an offset) or an age like 30m, 12h, 7d."
_FILTERS = "Filters"
Since = Annotated[
    str | None, typer.Option(help=f"Failed at or after: {_TIME_HELP}", rich_help_panel=_FILTERS)
]
Until = Annotated[
    str | None, typer.Option(help=f"Failed before: {_TIME_HELP}", rich_help_panel=_FILTERS)
]
EntityType = Annotated[
    str | None,
    typer.Option("--entity-type", help="Only this entity type.", rich_help_panel=_FILTERS),
]
ErrorClass = Annotated[
    str | None,
    typer.Option(
        "--error-class",
        help="Only this exception class (qualified or bare name).",
        rich_help_panel=_FILTERS,
    ),
]
StageOpt = Annotated[
    str | None,
    typer.Option("--stage", help="Only this stage: decode|handle.", rich_help_panel=_FILTERS),
]

_AGE = re.compile(r"^(\d+)([smhd])$")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@options_from(cluster_options, into="resolve")
def _target(
    resolve: ResolveTarget,
    dead_letter_prefix: DeadLetterPrefix = DEFAULT_TOPICS.dead_letter_prefix,
    retry_prefix: RetryPrefix = DEFAULT_TOPICS.retry_prefix,
    group_prefix: GroupPrefix = DEFAULT_TOPICS.group_prefix,
) -> ClusterTarget:
    """The options every `dead-letters` command takes: the cluster, topics and integration."""
    return resolve(
        {
            "dead_letter_prefix": dead_letter_prefix,
            "retry_prefix": retry_prefix,
            "group_prefix": group_prefix,
        }
    )


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    age = _AGE.match(text.strip())
    if age:
        return datetime.now(UTC) - timedelta(**{_AGE_UNITS[age[2]]: int(age[1])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"not a time: {text!r} ({_TIME_HELP})", param_hint=option
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


Selection = Callable[[str], ReplayFilter]
"""The filter options, waiting for the integration's uuid."""


def _selection(
    since: Since = None,
    until: Until = None,
    entity_type: EntityType = None,
    error_class: ErrorClass = None,
    stage: StageOpt = None,
) -> Selection:
    """The filter options of `list` and `replay`."""
    if stage is not None and stage not in ("decode", "handle"):
        raise typer.BadParameter("must be decode or handle", param_hint="--stage")
    return functools.partial(
        ReplayFilter,
        since=_moment(since, "--since"),
        until=_moment(until, "--until"),
        entity_type=entity_type,
        error_class=error_class,
        stage=stage,
    )


class _Bar:
    """`Progress` for the adapter: one rich task per phase."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def phase(self, description: str, total: int | None) -> None:
        self._task = self._progress.add_task(description, total=total)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)


@contextmanager
def _kafka_errors(target: ClusterTarget) -> Iterator[None]:
    """Any failure: one line on stderr (secrets masked), exit status 2 when the configuration
    must change (refused credentials or ACLs, a replay target that is not the retry topic),
    else 1 (see `connector.cli.failures`)."""
    with reported_failures(target.redactor):
        yield


@contextmanager
def _progress_bar() -> Iterator[_Bar]:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        yield _Bar(progress)


def _short(cls: str | None) -> str:
    return (cls or "").rsplit(".", 1)[-1]


def _entity(dl: DeadLetter) -> str:
    uuid = dl.entity_uuid or (dl.key.decode("utf-8", "replace") if dl.key is not None else "")
    return f"{dl.entity_type or '?'}:{uuid}"


def _when(dl: DeadLetter) -> str:
    return dl.failed_at.isoformat(timespec="seconds") if dl.failed_at else ""


def _first_line(text: str | None, limit: int = 80) -> str:
    line = (text or "").splitlines()[0] if text else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


_LIST_COLUMNS = (
    Column("offset", "ref", wrap=False),
    Column("failed at", "failed_at", priority=4, min_width=10),
    Column("stage", "stage", priority=5, min_width=6),
    Column("entity", "entity", min_width=16),
    Column("error", "error", priority=1, min_width=12),
    Column("message", "message", priority=3, min_width=20),
    Column("tries", "attempts", priority=6, min_width=5, justify="right"),
    Column("replays", "replay_count", priority=7, min_width=7, justify="right"),
)


def _json_row(dl: DeadLetter) -> dict[str, object]:
    """A dead letter's fields for `--output json` (docs/cli-output.md)."""
    return {
        "topic": dl.topic,
        "partition": dl.partition,
        "offset": dl.offset,
        "failed_at": dl.failed_at.isoformat() if dl.failed_at else None,
        "stage": dl.stage,
        "error_kind": dl.error_kind,
        "error_class": dl.exception_class,
        "message": dl.exception_message,
        "entity_type": dl.entity_type,
        "entity_uuid": dl.entity_uuid,
        "attempts": dl.attempts,
        "replay_count": dl.replay_count,
        "codec_reason": dl.codec_reason,
        "origin_topic": dl.origin_topic,
        "origin_partition": dl.origin_partition,
        "origin_offset": dl.origin_offset,
        "integration_uuid": dl.integration_uuid,
        "driver_type": dl.driver_type,
    }


@app.command("list")
@options_from(_selection, into="selection")
@options_from(_target, into="target")
def list_(
    target: ClusterTarget, selection: Selection, output: OutputOption = OutputFormat.TABLE
) -> None:
    """List the integration's dead letters (oldest first)."""
    chosen = selection(target.integration_uuid)
    targets = ReplayTargets.of(target.integration_uuid, target.topics)
    with _kafka_errors(target), _progress_bar() as bar:
        letters = read_dead_letters(target.client_config, targets.dead_letter_topic, progress=bar)
    shown = [dl for dl in letters if chosen.matches(dl)]
    table_rows = [
        {
            "ref": f"{dl.partition}/{dl.offset}",
            "failed_at": _when(dl),
            "stage": dl.stage or "",
            "entity": _entity(dl),
            "error": _short(dl.exception_class),
            "message": _first_line(dl.exception_message),
            "attempts": dl.attempts or "",
            "replay_count": dl.replay_count,
        }
        for dl in shown
    ]
    title = f"{targets.dead_letter_topic}: {len(shown)} of {len(letters)}"
    rows = [_json_row(dl) for dl in shown]
    print_rows(output, _LIST_COLUMNS, rows, title=title, table_rows=table_rows)


def _show_row(dl: DeadLetter, target: ClusterTarget) -> dict[str, object]:
    """`show --output json`: the list fields, every header, the stack trace, the mutation."""
    mutation: object = None
    decode_error = None
    if dl.value is not None:
        try:
            mutation = target.codec().decode(dl.value).model_dump(mode="json")
        except (CodecError, SchemaRegistryUnavailableError, ConfigurationError) as exc:
            decode_error = target.redactor.redact(str(exc))
    return {
        **_json_row(dl),
        "key": _printable(dl.key) if dl.key is not None else None,
        "value_bytes": len(dl.value) if dl.value is not None else None,
        "timestamp_ms": dl.timestamp_ms,
        "headers": {name: _printable(value) for name, value in dl.headers},
        "stacktrace": dl.stacktrace,
        "mutation": mutation,
        "decode_error": decode_error,
    }


def _printable(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return f"0x{value.hex()}"


@app.command("show")
@options_from(_target, into="target")
def show(
    offset: Annotated[int, typer.Argument(help="Offset of the dead letter.")],
    target: ClusterTarget,
    partition: Annotated[int, typer.Option(help="Partition of the dead letter.")] = 0,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show one dead letter: every header, the stack trace and the mutation if it decodes.

    With --config the mutation decodes as the runtime decodes it (schema registry included).
    """
    topic = target.topics.dead_letter_topic(target.integration_uuid)
    with _kafka_errors(target):
        found = read_dead_letters(target.client_config, topic, at=(partition, offset))
    if not found:
        typer.echo(f"no dead letter at {topic}/{partition}/{offset}", err=True)
        raise typer.Exit(EXIT_NOT_FOUND)
    dl = found[0]
    if output is OutputFormat.JSON:
        print_json_lines([_show_row(dl, target)])
        return
    console = Console(highlight=False)
    table = Table(title=dl.ref, show_header=False)
    table.add_column("header", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("key", Text(_printable(dl.key) if dl.key is not None else "(null)"))
    table.add_row("value", f"{len(dl.value)} bytes" if dl.value is not None else "(null)")
    table.add_row("timestamp", str(dl.timestamp_ms))
    stack = ""
    for name, value in dl.headers:
        if name == "iec.dlt.exception.stacktrace":
            stack = _printable(value)
            continue
        style = "" if name.startswith(DLT_PREFIX) else "dim"
        table.add_row(Text(name, style=style), Text(_printable(value)))
    console.print(table)
    if stack:
        console.rule("stack trace")
        console.print(Text(stack))
    console.rule("mutation")
    if dl.value is None:
        console.print("(no value: a tombstone)")
        return
    try:
        mutation = target.codec().decode(dl.value)
    except (CodecError, SchemaRegistryUnavailableError, ConfigurationError) as exc:
        console.print(Text(target.redactor.redact(f"not decodable here: {exc}")))
        return
    console.print_json(json.dumps(mutation.model_dump(mode="json")))


@app.command("replay")
@options_from(_selection, into="selection")
@options_from(_target, into="target")
def replay_(
    target: ClusterTarget,
    selection: Selection,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report the plan.")] = False,
    include_superseded: Annotated[
        bool,
        typer.Option(
            "--include-superseded",
            help="Replay even dead letters whose entity has a newer handled mutation.",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replay dead letters that were replayed before.")
    ] = False,
) -> None:
    """Republish the selected dead letters to the integration's retry topic.

    Only that integration consumes its retry topic. Skips dead letters replayed before and
    those whose entity was handled with a newer mutation since; reports each decision.
    """
    targets = ReplayTargets.of(target.integration_uuid, target.topics)
    with _kafka_errors(target), _progress_bar() as bar:
        report = replay(
            target.client_config,
            targets,
            selection(target.integration_uuid),
            include_superseded=include_superseded,
            force=force,
            dry_run=dry_run,
            progress=bar,
        )
    console = Console(highlight=False)
    title = f"Replay to {targets.retry_topic}" + (" (dry run)" if dry_run else "")
    table = Table(title=title)
    for column in ("dead letter", "entity", "error", "decision", "detail", "replayed as"):
        table.add_column(column, overflow="fold")
    for d in report.decisions:
        dl = d.dead_letter
        ref = dl.ref
        decision = d.reason.value
        if d.replay and dry_run:
            decision = "would " + decision
        elif ref in report.failed:
            decision = "FAILED"
        table.add_row(
            f"{dl.partition}/{dl.offset}",
            Text(_entity(dl)),
            Text(_short(dl.exception_class)),
            decision,
            Text(report.failed.get(ref, d.detail)),
            report.published.get(ref, "").removeprefix(f"{targets.retry_topic}/"),
        )
    console.print(table)
    skipped = Counter(d.reason for d in report.decisions if not d.replay)
    planned = sum(1 for d in report.decisions if d.replay)
    done = planned if dry_run else len(report.published)
    summary = [f"{'would replay' if dry_run else 'replayed'} {done}"]
    summary += [f"skipped {n} ({reason.value})" for reason, n in sorted(skipped.items())]
    if report.failed:
        summary.append(f"failed {len(report.failed)}")
    console.print(", ".join(summary) if report.decisions else "nothing matches the filters")
    if report.failed:
        raise typer.Exit(EXIT_KAFKA_FAILED)
