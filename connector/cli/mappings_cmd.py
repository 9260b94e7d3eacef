"""`iec-connector mappings get|count|export`: read one integration's mapping topic.

Each command restores the topic into memory (as the runtime does at start, without tailing
and without creating the topic) and answers from there; nothing is written.
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

from connector.codec.errors import CodecError
from connector.mapping_store import KafkaMappingStore, MappingRecord
from connector.topics import TopicSettings
from contracts import IntegrationError

__all__ = ["EXIT_FAILED", "EXIT_NOT_FOUND", "app"]

EXIT_FAILED = 1
"""The topic could not be read (missing, not compacted, cluster unreachable)."""
EXIT_NOT_FOUND = 3
"""`get`: the entity has no mapping."""

_DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
_DEFAULT_PREFIX = TopicSettings().mapping_prefix

app = typer.Typer(
    name="mappings",
    help="Look up, count and export the entity mappings of one integration.",
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
TopicPrefix = Annotated[str, typer.Option("--topic-prefix", help="Prefix of mapping topics.")]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds allowed for the restore.")]


def _client_config(bootstrap_servers: str) -> dict[str, str]:
    """librdkafka properties of the CLI's clients (`--config FILE` will extend this)."""
    return {"bootstrap.servers": bootstrap_servers or _DEFAULT_BOOTSTRAP}


def _fail(stderr: Console, message: str) -> typer.Exit:
    stderr.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(EXIT_FAILED)


@contextmanager
def _restored(
    stderr: Console, bootstrap: str, integration: str, prefix: str, timeout_s: float
) -> Iterator[KafkaMappingStore]:
    """A store holding the integration's mappings as of now; closed on exit."""
    try:
        topic = TopicSettings(mapping_prefix=prefix).mapping_topic(integration)
    except ValueError as exc:
        raise _fail(stderr, f"invalid --topic-prefix: {exc}") from None
    store = KafkaMappingStore(
        integration_uuid=integration, topic=topic, client_config=_client_config(bootstrap)
    )
    try:
        with stderr.status(f"restoring {topic} …"):
            store.start(timeout_s=timeout_s, create_topic=False, follow=False)
        yield store
    except IntegrationError as exc:
        raise _fail(stderr, str(exc)) from None
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
def get(
    entity_type: Annotated[str, typer.Argument(help="Entity type, e.g. product.")],
    entity_uuid: Annotated[str, typer.Argument(help="The entity's local uuid.")],
    integration: Integration,
    bootstrap_servers: Bootstrap = _DEFAULT_BOOTSTRAP,
    topic_prefix: TopicPrefix = _DEFAULT_PREFIX,
    timeout: Timeout = 120.0,
) -> None:
    """Print one entity's mapping as JSON (exit 3 if it has none)."""
    stderr = Console(stderr=True)
    with _restored(stderr, bootstrap_servers, integration, topic_prefix, timeout) as store:
        try:
            record = store.record(entity_type, entity_uuid)
        except CodecError as exc:
            raise _fail(stderr, f"the stored mapping is unreadable: {exc}") from None
    if record is None:
        stderr.print(f"no mapping for {entity_type}:{entity_uuid}", highlight=False)
        raise typer.Exit(EXIT_NOT_FOUND)
    sys.stdout.write(orjson.dumps(_row(entity_type, entity_uuid, record)).decode() + "\n")


@app.command()
def count(
    integration: Integration,
    bootstrap_servers: Bootstrap = _DEFAULT_BOOTSTRAP,
    topic_prefix: TopicPrefix = _DEFAULT_PREFIX,
    timeout: Timeout = 120.0,
) -> None:
    """Print the number of mappings."""
    stderr = Console(stderr=True)
    with _restored(stderr, bootstrap_servers, integration, topic_prefix, timeout) as store:
        sys.stdout.write(f"{store.count()}\n")


@app.command()
def export(
    integration: Integration,
    bootstrap_servers: Bootstrap = _DEFAULT_BOOTSTRAP,
    topic_prefix: TopicPrefix = _DEFAULT_PREFIX,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    timeout: Timeout = 120.0,
) -> None:
    """Write every mapping as one JSON object per line, with a progress bar on stderr."""
    stderr = Console(stderr=True)
    with _restored(stderr, bootstrap_servers, integration, topic_prefix, timeout) as store:
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
    target = str(output) if output else "stdout"
    stderr.print(f"exported {written} mappings to {target}{note}", highlight=False)


@contextmanager
def _stdout() -> Iterator[TextIO]:
    """stdout for `with`, left open on exit."""
    yield sys.stdout
