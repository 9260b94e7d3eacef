"""`iec-connector drivers list|show|new`: the drivers installed through the `iec.drivers`
group, and a new driver package to start from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from connector.cli.config_cmd import EXIT_CONFIG_INVALID, discover_drivers
from connector.driver_scaffold import DriverNames, ScaffoldError, write_package
from contracts import ConfigurationError, configuration_json_schema

__all__ = ["app"]

app = typer.Typer(name="drivers", help="Inspect the installed drivers.", no_args_is_help=True)


@app.command("list")
def list_drivers() -> None:
    """Show every installed driver: type, name, version, supported entity types, status.

    A driver whose configuration schema is unusable is flagged ("invalid config schema")
    and explained on stderr, as are entry points that failed to load.
    """
    registry = discover_drivers()
    console = Console()
    if len(registry):
        table = Table(title="Installed drivers")
        table.add_column("type", no_wrap=True)
        for column in ("name", "version", "supported types", "status", "description"):
            table.add_column(column, overflow="fold")
        for info in registry.infos():
            table.add_row(
                info.type,
                info.name,
                info.version,
                ", ".join(info.supported_entity_types),
                "ok" if info.schema_problem is None else "invalid config schema",
                info.description,
            )
        console.print(table)
    else:
        console.print("no drivers installed (entry-point group iec.drivers)", markup=False)
    for info in registry.infos():
        if info.schema_problem is not None:
            typer.echo(
                f"warning: driver {info.type!r} ({info.entry_point}) has an invalid "
                f"configuration schema: {info.schema_problem}",
                err=True,
            )
    for broken in registry.broken:
        typer.echo(f"warning: {broken.error}", err=True)


@app.command("show")
def show_driver(
    driver_type: Annotated[str, typer.Argument(metavar="TYPE", help="A driver type.")],
) -> None:
    """Print the JSON Schema of the driver's configuration (an integration's `config:`)."""
    registry = discover_drivers()
    try:
        schema = configuration_json_schema(registry.create(driver_type).get_configuration_schema())
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG_INVALID) from None
    typer.echo(json.dumps(schema, indent=2, sort_keys=False))


@app.command("new")
def new_driver(
    name: Annotated[
        str, typer.Argument(help="The driver type, e.g. acme-shop (lowercase, digits, dashes).")
    ],
    path: Annotated[
        Path | None,
        typer.Option(help="Where to create the package (default: ./iec-driver-NAME)."),
    ] = None,
) -> None:
    """Create a driver package: an HTTP driver, its entry point, contract-suite tests, README.

    It installs with `pip install -e` and its tests pass as generated; edit
    src/<module>/driver.py and tests/fake_downstream.py from there.
    """
    try:
        names = DriverNames.of(name)
        target = path if path is not None else Path(names.distribution)
        write_package(names, target)
    except ScaffoldError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG_INVALID) from None
    typer.echo(f"created {target} (driver type {names.driver_type!r}, class {names.class_name})")
    typer.echo(f"next: cd {target} && pip install -e '.[test]' && pytest")
