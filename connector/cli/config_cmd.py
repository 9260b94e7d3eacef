"""`iec-connector config validate FILE`: check a configuration without starting anything."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from connector.config import CONFIG_PATH_ENV, load_and_validate
from connector.driver_registry import DriverRegistry
from connector.topic_admin import TopicKind, plan_topics
from contracts import ConfigProblem, ConfigurationError, ConfigValidationError

__all__ = ["EXIT_CONFIG_INVALID", "app", "discover_drivers", "exit_with_problems", "required_file"]

EXIT_CONFIG_INVALID = 2
"""Exit status of every command that refuses a configuration."""

app = typer.Typer(name="config", help="Check configuration files.", no_args_is_help=True)


def exit_with_problems(problems: Iterable[ConfigProblem]) -> typer.Exit:
    """Print one line per problem to stderr; return the exit to raise (status 2)."""
    for problem in problems:
        typer.echo(str(problem), err=True)
    return typer.Exit(EXIT_CONFIG_INVALID)


def required_file(file: Path | None) -> Path:
    """`file`, or the end of the command (status 2) when neither it nor $IEC_CONFIG was given."""
    if file is None:
        raise exit_with_problems(
            [
                ConfigProblem(
                    "<config>", "file", f"no configuration file given (or ${CONFIG_PATH_ENV})"
                )
            ]
        )
    return file


def discover_drivers() -> DriverRegistry:
    """The installed drivers; two drivers of one type end the command with status 2."""
    try:
        return DriverRegistry.discover()
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG_INVALID) from None


@app.command("validate")
def validate(
    file: Annotated[
        Path | None,
        typer.Argument(
            envvar=CONFIG_PATH_ENV,
            show_default=False,
            help=f"The YAML configuration (default: ${CONFIG_PATH_ENV}).",
        ),
    ] = None,
) -> None:
    """Validate FILE and every enabled integration's driver configuration.

    Prints one line per problem (`path: message (rule: ...)`) and exits 2, or a summary and 0.
    """
    file = required_file(file)
    registry = discover_drivers()
    try:
        settings, _ = load_and_validate(file, registry)
        plan = plan_topics(settings, registry)
    except ConfigValidationError as exc:
        raise exit_with_problems(exc.problems) from None
    enabled = settings.enabled_integrations()
    drivers = sorted({integration.driver for integration in enabled})
    console = Console(highlight=False)
    console.print(f"[green]OK[/green] {file}", markup=True)
    console.print(
        f"  integrations: {len(settings.integrations)} ({len(enabled)} enabled)", markup=False
    )
    console.print(f"  drivers: {', '.join(drivers) or '-'}", markup=False)
    console.print(
        "  topics: " + ", ".join(f"{len(plan.of_kind(kind))} {kind.value}" for kind in TopicKind),
        markup=False,
    )
