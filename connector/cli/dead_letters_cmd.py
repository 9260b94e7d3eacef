"""`iec-connector dead-letters list|show|replay`: inspect an integration's dead letters and
replay them to the integration's retry topic."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from confluent_kafka import KafkaException
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from connector.codec import CodecError, MutationCodec
from connector.config.redaction import secret_values_in
from connector.dead_letters.headers import DLT_PREFIX, DeadLetter
from connector.dead_letters.replay import ReplayTargets, read_dead_letters, replay
from connector.dead_letters.replay_plan import ReplayFilter
from connector.redaction import Redactor
from connector.topics import TopicSettings

__all__ = ["EXIT_KAFKA_FAILED", "EXIT_NOT_FOUND", "app"]

EXIT_KAFKA_FAILED = 1
"""The cluster could not be read, or a replay was not acknowledged."""
EXIT_NOT_FOUND = 3
"""`show`: there is no dead letter at that offset."""

_DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
_TOPICS = TopicSettings()

app = typer.Typer(
    name="dead-letters",
    help="Inspect an integration's dead letters and replay them to that integration only.",
    no_args_is_help=True,
)

Integration = Annotated[
    str, typer.Option("--integration", "-i", help="Integration uuid.", show_default=False)
]
Bootstrap = Annotated[
    str,
    typer.Option(
        "--bootstrap-servers", envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka bootstrap servers."
    ),
]
DeadLetterPrefix = Annotated[str, typer.Option(help="Prefix of dead-letter topics.")]
RetryPrefix = Annotated[str, typer.Option(help="Prefix of retry topics.")]
GroupPrefix = Annotated[str, typer.Option(help="Prefix of the integrations' consumer groups.")]
_TIME_HELP = "ISO-8601 time (UTC unless it has an offset) or an age like 30m, 12h, 7d."
Since = Annotated[str | None, typer.Option(help=f"Failed at or after: {_TIME_HELP}")]
Until = Annotated[str | None, typer.Option(help=f"Failed before: {_TIME_HELP}")]
EntityType = Annotated[str | None, typer.Option("--entity-type", help="Only this entity type.")]
ErrorClass = Annotated[
    str | None,
    typer.Option("--error-class", help="Only this exception class (qualified or bare name)."),
]
StageOpt = Annotated[str | None, typer.Option("--stage", help="Only this stage: decode|handle.")]

_AGE = re.compile(r"^(\d+)([smhd])$")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _client_config(bootstrap_servers: str) -> dict[str, str]:
    """librdkafka properties of the CLI's clients (`--config FILE` will extend this)."""
    return {"bootstrap.servers": bootstrap_servers or _DEFAULT_BOOTSTRAP}


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


def _filter(
    integration: str,
    since: str | None,
    until: str | None,
    entity_type: str | None,
    error_class: str | None,
    stage: str | None,
) -> ReplayFilter:
    if stage is not None and stage not in ("decode", "handle"):
        raise typer.BadParameter("must be decode or handle", param_hint="--stage")
    return ReplayFilter(
        integration,
        since=_moment(since, "--since"),
        until=_moment(until, "--until"),
        entity_type=entity_type,
        error_class=error_class,
        stage=stage,
    )


def _targets(integration: str, dlq: str, retry: str, group: str) -> ReplayTargets:
    topics = TopicSettings(dead_letter_prefix=dlq, retry_prefix=retry, group_prefix=group)
    return ReplayTargets.of(integration, topics)


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
def _kafka_errors(config: dict[str, str]) -> Iterator[Redactor]:
    """Turn a cluster failure into a message on stderr (secrets masked) and exit status 1."""
    redactor = Redactor(secret_values_in(config))
    try:
        yield redactor
    except (KafkaException, TimeoutError, BufferError) as exc:
        typer.echo(redactor.redact(f"error: Kafka: {exc}"), err=True)
        raise typer.Exit(EXIT_KAFKA_FAILED) from None


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


@app.command("list")
def list_(
    integration: Integration,
    since: Since = None,
    until: Until = None,
    entity_type: EntityType = None,
    error_class: ErrorClass = None,
    stage: StageOpt = None,
    bootstrap_servers: Bootstrap = _DEFAULT_BOOTSTRAP,
    dead_letter_prefix: DeadLetterPrefix = _TOPICS.dead_letter_prefix,
    retry_prefix: RetryPrefix = _TOPICS.retry_prefix,
    group_prefix: GroupPrefix = _TOPICS.group_prefix,
) -> None:
    """List the integration's dead letters (oldest first)."""
    selection = _filter(integration, since, until, entity_type, error_class, stage)
    targets = _targets(integration, dead_letter_prefix, retry_prefix, group_prefix)
    config = _client_config(bootstrap_servers)
    with _kafka_errors(config), _progress_bar() as bar:
        letters = read_dead_letters(config, targets.dead_letter_topic, progress=bar)
    shown = [dl for dl in letters if selection.matches(dl)]
    table = Table(title=f"{targets.dead_letter_topic}: {len(shown)} of {len(letters)}")
    for column in (
        "offset",
        "failed at",
        "stage",
        "entity",
        "error",
        "message",
        "tries",
        "replays",
    ):
        table.add_column(column, overflow="fold")
    for dl in shown:
        table.add_row(
            f"{dl.partition}/{dl.offset}",
            _when(dl),
            dl.stage or "",
            Text(_entity(dl)),
            Text(_short(dl.exception_class)),
            Text(_first_line(dl.exception_message)),
            str(dl.attempts or ""),
            str(dl.replay_count),
        )
    Console(highlight=False).print(table)


def _printable(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return f"0x{value.hex()}"


@app.command("show")
def show(
    offset: Annotated[int, typer.Argument(help="Offset of the dead letter.")],
    integration: Integration,
    partition: Annotated[int, typer.Option(help="Partition of the dead letter.")] = 0,
    bootstrap_servers: Bootstrap = _DEFAULT_BOOTSTRAP,
    dead_letter_prefix: DeadLetterPrefix = _TOPICS.dead_letter_prefix,
    retry_prefix: RetryPrefix = _TOPICS.retry_prefix,
    group_prefix: GroupPrefix = _TOPICS.group_prefix,
) -> None:
    """Show one dead letter: every header, the stack trace and the mutation if it decodes."""
    targets = _targets(integration, dead_letter_prefix, retry_prefix, group_prefix)
    config = _client_config(bootstrap_servers)
    with _kafka_errors(config):
        found = read_dead_letters(config, targets.dead_letter_topic, at=(partition, offset))
    if not found:
        typer.echo(f"no dead letter at {targets.dead_letter_topic}/{partition}/{offset}", err=True)
        raise typer.Exit(EXIT_NOT_FOUND)
    dl = found[0]
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
        mutation = MutationCodec().decode(dl.value)
    except CodecError as exc:
        console.print(Text(f"not decodable here: {exc}"))
        return
    console.print_json(json.dumps(mutation.model_dump(mode="json")))


@app.command("replay")
def replay_(
    integration: Integration,
    since: Since = None,
    until: Until = None,
    entity_type: EntityType = None,
    error_class: ErrorClass = None,
    stage: StageOpt = None,
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
    bootstrap_servers: Bootstrap = _DEFAULT_BOOTSTRAP,
    dead_letter_prefix: DeadLetterPrefix = _TOPICS.dead_letter_prefix,
    retry_prefix: RetryPrefix = _TOPICS.retry_prefix,
    group_prefix: GroupPrefix = _TOPICS.group_prefix,
) -> None:
    """Republish the selected dead letters to the integration's retry topic.

    Only that integration consumes its retry topic. Skips dead letters replayed before and
    those whose entity was handled with a newer mutation since; reports each decision.
    """
    selection = _filter(integration, since, until, entity_type, error_class, stage)
    targets = _targets(integration, dead_letter_prefix, retry_prefix, group_prefix)
    config = _client_config(bootstrap_servers)
    with _kafka_errors(config), _progress_bar() as bar:
        report = replay(
            config,
            targets,
            selection,
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
