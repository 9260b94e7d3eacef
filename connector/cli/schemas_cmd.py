"""`iec-connector schemas register|check`: govern the MutationData schema in the registry.

Both read the configuration: its `schema_registry` section says where the registry is, its
integrations say which mutation topics (and so which `<topic>-value` subjects) exist.
Exit status (`connector.cli.failures`): 0 done / compatible; 1 the registry refused an
incompatible schema, or could not be reached; 2 invalid configuration or candidate file, a
`schema_registry.ssl_ca_location` that is not a readable PEM file, credentials the registry
refused (HTTP 401/403). Every failure is one redacted line on stderr.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka.schema_registry import SchemaRegistryClient

from connector.cli.config_cmd import (
    EXIT_CONFIG_INVALID,
    discover_drivers,
    exit_with_problems,
    required_file,
)
from connector.cli.failures import EXIT_CONFIGURATION, EXIT_ENVIRONMENT, reported_failures
from connector.cli.options import ConfigFile
from connector.cli.output import Column, OutputFormat, OutputOption, print_rows
from connector.config import ConnectorSettings, SchemaRegistrySettings, load_settings
from connector.redaction import Redactor
from connector.schema_governance import (
    COMPATIBILITY,
    RegistryRequestError,
    check_candidate,
    parse_candidate,
    register_shipped,
    subject_of,
)
from connector.topic_admin import TopicKind, plan_topics
from contracts import ConfigProblem, ConfigurationError, ConfigValidationError

__all__ = ["EXIT_INCOMPATIBLE", "app"]

EXIT_INCOMPATIBLE = 1
"""The registry refused: the schema is not compatible with the subject's versions."""
_CREDENTIALS_REFUSED = (401, 403)

app = typer.Typer(
    name="schemas",
    help="Register the shipped schemas in the schema registry and check candidate schemas.",
    no_args_is_help=True,
)

_REGISTER_COLUMNS = (
    Column("subject", "subject", wrap=False),
    Column("id", "schema_id", justify="right", min_width=4),
    Column("version", "version", justify="right", min_width=7),
    Column("compatibility", "compatibility", priority=1, min_width=13),
    Column("was", "previous_compatibility", priority=2, min_width=13),
)
_CHECK_COLUMNS = (
    Column("subject", "subject", wrap=False),
    Column("compatible", "compatible", min_width=10),
    Column("reason", "reason", priority=1, min_width=20),
)


def _load(config: Path | None) -> tuple[ConnectorSettings, SchemaRegistrySettings, list[str]]:
    """The settings, their registry section and the mutation subjects; exits 2 if unusable."""
    path = required_file(config)
    drivers = discover_drivers()
    try:
        settings = load_settings(path)
        plan = plan_topics(settings, drivers)
    except ConfigValidationError as exc:
        raise exit_with_problems(exc.problems) from None
    if settings.schema_registry is None:
        raise exit_with_problems(
            [
                ConfigProblem(
                    "schema_registry",
                    "missing",
                    "no schema_registry section: add `schema_registry: {url: ...}` "
                    "(without it mutations use single-object Avro and need no registry)",
                )
            ]
        )
    subjects = [subject_of(spec.name) for spec in plan.of_kind(TopicKind.MUTATIONS)]
    return settings, settings.schema_registry, subjects


def _check_tls_file(registry: SchemaRegistrySettings) -> None:
    """Refuse a `ssl_ca_location` that is not a readable PEM file before any request (the
    registry client would raise it from deep inside httpx as a traceback)."""
    if registry.ssl_ca_location is None:
        return
    try:
        ssl.create_default_context(cafile=registry.ssl_ca_location)
    except OSError as exc:  # FileNotFoundError, PermissionError, ssl.SSLError (not PEM)
        reason = exc.strerror or str(exc)
        raise ConfigurationError(
            f"schema_registry.ssl_ca_location ({registry.ssl_ca_location}): {reason}: "
            "the file must exist, be readable and hold PEM CA certificates"
        ) from None


def _fail(redactor: Redactor, failure: RegistryRequestError) -> typer.Exit:
    line = " ".join(str(failure).split())
    if failure.status in _CREDENTIALS_REFUSED:
        line += ": check schema_registry.basic_auth_user and basic_auth_password"
        code = EXIT_CONFIGURATION
    else:
        code = EXIT_INCOMPATIBLE if failure.refused else EXIT_ENVIRONMENT
    typer.echo(redactor.redact(f"error: {line}"), err=True)
    return typer.Exit(code)


@app.command("register")
def register(config: ConfigFile = None, output: OutputOption = OutputFormat.TABLE) -> None:
    """Register the shipped MutationData schemas (released versions, then the current one)
    under each mutation topic's subject, with compatibility FULL_TRANSITIVE. Idempotent."""
    settings, registry, subjects = _load(config)
    redactor = Redactor(settings.secrets())
    with reported_failures(redactor):
        _check_tls_file(registry)
        client = SchemaRegistryClient(registry.client_config())
        try:
            results = register_shipped(client, subjects, COMPATIBILITY)
        except RegistryRequestError as failure:
            raise _fail(redactor, failure) from None
    rows = [
        {
            "subject": r.subject,
            "schema_id": r.schema_id,
            "version": r.version,
            "compatibility": r.compatibility,
            "previous_compatibility": r.previous_compatibility,
        }
        for r in results
    ]
    print_rows(output, _REGISTER_COLUMNS, rows, title=f"registered in {len(rows)} subject(s)")


@app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="The candidate Avro schema (.avsc).")],
    config: ConfigFile = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Ask the registry whether FILE may become the next version of every mutation subject;
    exit 1 with the registry's reason if it may not."""
    settings, registry, subjects = _load(config)
    redactor = Redactor(settings.secrets())
    try:
        candidate = parse_candidate(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        typer.echo(f"error: {file}: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG_INVALID) from None
    with reported_failures(redactor):
        _check_tls_file(registry)
        try:
            verdicts = check_candidate(registry, subjects, candidate)
        except RegistryRequestError as failure:
            raise _fail(redactor, failure) from None
    rows = [
        {"subject": v.subject, "compatible": v.compatible, "reason": v.reason} for v in verdicts
    ]
    refused = [v for v in verdicts if not v.compatible]
    print_rows(output, _CHECK_COLUMNS, rows, title=f"{file.name} against {len(rows)} subject(s)")
    for verdict in refused:
        typer.echo(redactor.redact(f"incompatible: {verdict.subject}: {verdict.reason}"), err=True)
    if refused:
        raise typer.Exit(EXIT_INCOMPATIBLE)
