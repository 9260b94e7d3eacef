"""`iec-connector mappings get|count|export`: read one integration's mapping topic.

Each command restores the topic into memory (as the runtime does at start, without tailing
and without creating the topic) and answers from there; nothing is written. With ``--config``
the cluster (SASL/TLS included) and the topic names come from the connector's configuration.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TextIO

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from connector.cli.cluster_target import ClusterTarget, ResolveTarget, cluster_options
from connector.cli.failures import EXIT_ENVIRONMENT, exit_code_of, failure_line
from connector.cli.options import CLUSTER_PANEL, DEFAULT_TOPICS, options_from
from connector.cli.output import Column, OutputFormat, OutputOption, print_rows
from connector.codec.errors import CodecError
from connector.mapping_store import KafkaMappingStore, MappingRecord
from contracts import IntegrationError

__all__ = ["EXIT_NOT_FOUND", "app"]

EXIT_NOT_FOUND = 3
"""`get`: the entity has no mapping."""

app = typer.Typer(
    name="mappings",
    help="Look up, count and export the entity mappings of one integration.",
    no_args_is_help=True,
)

MappingPrefix = Annotated[
    str,
    typer.Option("--topic-prefix", help="Prefix of mapping topics.", rich_help_panel=CLUSTER_PANEL),
]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds allowed for the restore.")]


@options_from(cluster_options, into="resolve")
def _target(
    resolve: ResolveTarget, mapping_prefix: MappingPrefix = DEFAULT_TOPICS.mapping_prefix
) -> ClusterTarget:
    """The options every `mappings` command takes: where the integration's mappings are."""
    return resolve({"mapping_prefix": mapping_prefix})


def _fail(target: ClusterTarget, message: str, code: int = EXIT_ENVIRONMENT) -> typer.Exit:
    """One redacted, unwrapped line on stderr (as `connector.cli.failures` words every
    command's failure: 2 for a missing or non-compacted topic, 1 for an unreachable cluster)."""
    typer.echo(target.redactor.redact(f"error: {' '.join(message.split())}"), err=True)
    return typer.Exit(code)


@contextmanager
def _restored(
    stderr: Console, target: ClusterTarget, timeout_s: float
) -> Iterator[KafkaMappingStore]:
    """A store holding the integration's mappings as of now; closed on exit."""
    topic = target.topics.mapping_topic(target.integration_uuid)
    store = KafkaMappingStore(
        integration_uuid=target.integration_uuid,
        topic=topic,
        client_config=target.client_config,
    )
    try:
        with stderr.status(f"restoring {topic} …"):
            store.start(timeout_s=timeout_s, create_topic=False, follow=False)
        yield store
    except IntegrationError as exc:
        raise _fail(target, failure_line(exc), exit_code_of(exc)) from None
    finally:
        store.close()


def _row(entity_type: str, entity_uuid: str, record: MappingRecord) -> dict[str, Any]:
    return {
        "entity_type": entity_type,
        "entity_uuid": entity_uuid,
        "external_id": record.external_id,
        "external_data": record.external_data,
        "created_at": record.created_at.isoformat(timespec="milliseconds"),
        "updated_at": record.updated_at.isoformat(timespec="milliseconds"),
    }


@app.command()
@options_from(_target, into="target")
def get(
    entity_type: Annotated[str, typer.Argument(help="Entity type, e.g. product.")],
    entity_uuid: Annotated[str, typer.Argument(help="The entity's local uuid.")],
    target: ClusterTarget,
    timeout: Timeout = 120.0,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show one entity's mapping (exit 3 if it has none); --output json: one JSON line."""
    stderr = Console(stderr=True)
    with _restored(stderr, target, timeout) as store:
        try:
            record = store.record(entity_type, entity_uuid)
        except CodecError as exc:
            raise _fail(target, f"the stored mapping is unreadable: {exc}") from None
    if record is None:
        stderr.print(f"no mapping for {entity_type}:{entity_uuid}", highlight=False)
        raise typer.Exit(EXIT_NOT_FOUND)
    row = _row(entity_type, entity_uuid, record)
    if output is OutputFormat.JSON:
        print_rows(output, (), [row])
        return
    fields = [
        {"field": key, "value": orjson.dumps(value).decode() if isinstance(value, dict) else value}
        for key, value in row.items()
    ]
    title = f"{entity_type}:{entity_uuid}"
    print_rows(output, _FIELD_COLUMNS, fields, title=title)


_FIELD_COLUMNS = (Column("field", "field", wrap=False), Column("value", "value", min_width=20))


@app.command()
@options_from(_target, into="target")
def count(
    target: ClusterTarget, timeout: Timeout = 120.0, output: OutputOption = OutputFormat.TABLE
) -> None:
    """Print the number of mappings (the bare number; --output json: a JSON line with the
    integration and topic)."""
    stderr = Console(stderr=True)
    with _restored(stderr, target, timeout) as store:
        total = store.count()
    if output is OutputFormat.JSON:
        topic = target.topics.mapping_topic(target.integration_uuid)
        row = {"integration": target.integration_uuid, "topic": topic, "count": total}
        print_rows(output, (), [row])
    else:
        sys.stdout.write(f"{total}\n")


@app.command()
@options_from(_target, into="target")
def export(
    target: ClusterTarget,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    timeout: Timeout = 120.0,
) -> None:
    """Write every mapping as one JSON object per line, with a progress bar on stderr."""
    stderr = Console(stderr=True)
    with _restored(stderr, target, timeout) as store:
        total = store.count()
        out: TextIO
        with (
            open(output, "w", encoding="utf-8") if output else _stdout() as out,
            Progress(
                TextColumn("exporting"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=stderr,
                transient=output is None,
            ) as progress,
        ):
            task = progress.add_task("export", total=total)
            written = 0
            for entity_type, entity_uuid, record in store.iter_mappings():
                out.write(orjson.dumps(_row(entity_type, entity_uuid, record)).decode() + "\n")
                written += 1
                if written % 1000 == 0:
                    progress.update(task, completed=written)
            progress.update(task, completed=written)
        skipped = store.undecodable_values
    note = f", {skipped} unreadable skipped" if skipped else ""
    where = str(output) if output else "stdout"
    stderr.print(f"exported {written} mappings to {where}{note}", highlight=False)


@contextmanager
def _stdout() -> Iterator[TextIO]:
    """stdout for `with`, left open on exit."""
    yield sys.stdout
