"""`iec-connector drivers list|show`: the drivers installed through the `iec.drivers` group."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from connector.cli.config_cmd import EXIT_CONFIG_INVALID, discover_drivers
from contracts import ConfigurationError, configuration_json_schema

__all__ = ["app"]

app = typer.Typer(name="drivers", help="Inspect the installed drivers.", no_args_is_help=True)


@app.command("list")
def list_drivers() -> None:
    """Show every installed driver: type, name, version, supported entity types."""
    registry = discover_drivers()
    console = Console()
    if len(registry):
        table = Table(title="Installed drivers")
        table.add_column("type", no_wrap=True)
        for column in ("name", "version", "supported types", "description"):
            table.add_column(column, overflow="fold")
        for info in registry.infos():
            table.add_row(
                info.type,
                info.name,
                info.version,
                ", ".join(info.supported_entity_types),
                info.description,
            )
        console.print(table)
    else:
        console.print("no drivers installed (entry-point group iec.drivers)", markup=False)
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
