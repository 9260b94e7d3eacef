"""`iec-connector topics create|acls`: create the topics the integrations need; print the ACLs
each principal needs."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from connector.acls import Grant, Role, grants, kafka_acls_command
from connector.cli.config_cmd import (
    EXIT_CONFIG_INVALID,
    discover_drivers,
    exit_with_problems,
    required_file,
)
from connector.cli.failures import reported_failures
from connector.cli.options import ConfigFile
from connector.config import load_settings
from connector.kafka import check_connection, new_admin
from connector.logging_config import configure_logging
from connector.redaction import Redactor
from connector.topic_admin import TopicStatus, apply_plan, plan_topics
from contracts import ConfigValidationError

__all__ = ["EXIT_KAFKA_FAILED", "app"]

EXIT_KAFKA_FAILED = 1
"""Exit status when the cluster refused or could not be reached."""

app = typer.Typer(name="topics", help="Manage the connector's topics.", no_args_is_help=True)

_STYLE = {
    TopicStatus.CREATED: "green",
    TopicStatus.EXISTS: "dim",
    TopicStatus.WOULD_CREATE: "cyan",
    TopicStatus.MISMATCH: "bold red",
    TopicStatus.FAILED: "red",
}


@app.command("create")
def create(
    config: ConfigFile = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only report what would be created.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the cluster.")] = 30.0,
) -> None:
    """Create mutation, mapping, dead-letter and retry topics; existing ones are checked.

    Idempotent. Exits 2 when an existing topic has a setting that would lose data (e.g. a
    mapping topic that is not compacted) or the cluster refuses the credentials, ACLs or TLS
    settings, 1 when the cluster cannot be reached or fails, else 0.
    """
    config = required_file(config)
    registry = discover_drivers()
    try:
        settings = load_settings(config)
        plan = plan_topics(settings, registry)
    except ConfigValidationError as exc:
        raise exit_with_problems(exc.problems) from None
    console = Console(highlight=False, soft_wrap=True)
    redactor = Redactor(settings.secrets())
    configure_logging("WARNING", settings.runtime.log_format, redactor)
    client_config = settings.kafka.client_config()
    # Credentials first: a wrong password is one clear line at once (exit 2), not a timeout.
    with reported_failures(redactor):
        check_connection(client_config, timeout_s=timeout)
        with console.status(
            f"checking {len(plan.topics)} topics on {settings.kafka.bootstrap_servers}"
        ):
            admin = new_admin(client_config, logger=logging.getLogger("iec.cli.kafka"))
            results = apply_plan(admin, plan, dry_run=dry_run, timeout_s=timeout)
    # One line per topic rather than a table: names stay whole for copying at any width.
    for result in results:
        spec = result.spec
        status = f"[{_STYLE[result.status]}]{result.status.value:<12}[/]"
        line = (
            f"{status} {spec.kind.value:<12} {spec.name} "
            f"(partitions {spec.partitions}, replicas {spec.replication_factor})"
        )
        if result.detail and result.ok:
            line += f": {escape(redactor.redact(result.detail))}"
        console.print(line)
    counts = Counter(result.status.value for result in results)
    console.print(
        ("dry run: " if dry_run else "")
        + ", ".join(f"{count} {status}" for status, count in sorted(counts.items())),
        markup=False,
    )
    for result in results:
        if not result.ok:
            typer.echo(
                redactor.redact(f"{result.spec.name}: {result.status.value}: {result.detail}"),
                err=True,
            )
    if any(result.status == TopicStatus.MISMATCH for result in results):
        raise typer.Exit(EXIT_CONFIG_INVALID)
    if any(result.status == TopicStatus.FAILED for result in results):
        raise typer.Exit(EXIT_KAFKA_FAILED)


@app.command("acls")
def acls(
    config: ConfigFile = None,
    role: Annotated[
        Role, typer.Option(help="Whose ACLs: the runtime, the topics job or a replay operator.")
    ] = Role.RUNTIME,
    principal: Annotated[
        str, typer.Option(help="The Kafka principal to grant them to.")
    ] = "User:iec-connector",
) -> None:
    """Print the `kafka-acls.sh` commands granting exactly what `role` needs (nothing else).

    The runtime never needs Create (unless topics.create_missing); see README, "Security".
    """
    config = required_file(config)
    registry = discover_drivers()
    try:
        settings = load_settings(config)
        plan = plan_topics(settings, registry)
    except ConfigValidationError as exc:
        raise exit_with_problems(exc.problems) from None
    granted = grants(role, settings, plan)
    if role is Role.RUNTIME and settings.topics.create_missing:
        granted += [
            Grant("topic", spec.name, "Create", "topics.create_missing") for spec in plan.topics
        ]
    for line in kafka_acls_command(principal, granted):
        typer.echo(line)
