"""`iec-connector drivers list|show|new`: the drivers installed through the `iec.drivers`
group, and a new driver package to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from connector.cli.config_cmd import EXIT_CONFIG_INVALID, discover_drivers
from connector.cli.output import Column, OutputFormat, OutputOption, print_rows
from connector.driver_scaffold import DriverNames, ScaffoldError, write_package
from contracts import ConfigurationError, configuration_json_schema

__all__ = ["app"]

app = typer.Typer(name="drivers", help="Inspect the installed drivers.", no_args_is_help=True)


_LIST_COLUMNS = (
    Column("type", "type", wrap=False),
    Column("name", "name", priority=1, min_width=12),
    Column("version", "version", priority=3, min_width=7),
    Column("supported types", "supported_entity_types", priority=2, min_width=15),
    Column("status", "status", min_width=6),
    Column("description", "description", priority=4, min_width=20),
)
_SCHEMA_COLUMNS = (
    Column("field", "field", wrap=False),
    Column("type", "type", min_width=8),
    Column("required", "required", priority=2, min_width=8),
    Column("default", "default", priority=3, min_width=8),
    Column("description", "description", priority=1, min_width=20),
)


@app.command("list")
def list_drivers(output: OutputOption = OutputFormat.TABLE) -> None:
    """Show every installed driver: type, name, version, supported entity types, status.

    A driver whose configuration schema is unusable is flagged ("invalid config schema")
    and explained on stderr, as are entry points that failed to load.
    """
    registry = discover_drivers()
    rows = [
        {
            "type": info.type,
            "name": info.name,
            "version": info.version,
            "supported_entity_types": list(info.supported_entity_types),
            "status": "ok" if info.schema_problem is None else "invalid config schema",
            "description": info.description,
            "entry_point": info.entry_point,
        }
        for info in registry.infos()
    ]
    if rows or output is OutputFormat.JSON:
        print_rows(output, _LIST_COLUMNS, rows, title="Installed drivers")
    else:
        Console().print("no drivers installed (entry-point group iec.drivers)", markup=False)
    for info in registry.infos():
        if info.schema_problem is not None:
            typer.echo(
                f"warning: driver {info.type!r} ({info.entry_point}) has an invalid "
                f"configuration schema: {info.schema_problem}",
                err=True,
            )
    for broken in registry.broken:
        typer.echo(f"warning: {broken.error}", err=True)


def _schema_rows(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", ()))
    rows = []
    for name, field in schema.get("properties", {}).items():
        kind = field.get("type") or field.get("format") or ("object" if "$ref" in field else "")
        if "anyOf" in field:
            kind = " | ".join(str(o.get("type", o.get("$ref", "?"))) for o in field["anyOf"])
        rows.append(
            {
                "field": name,
                "type": kind,
                "required": name in required,
                "default": field.get("default"),
                "description": field.get("description", ""),
            }
        )
    return rows


@app.command("show")
def show_driver(
    driver_type: Annotated[str, typer.Argument(metavar="TYPE", help="A driver type.")],
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show the driver's configuration (an integration's `config:`): one row per field, or
    with --output json its identity and the whole JSON Schema."""
    registry = discover_drivers()
    try:
        driver = registry.create(driver_type)
        schema = configuration_json_schema(driver.get_configuration_schema())
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG_INVALID) from None
    info = next(i for i in registry.infos() if i.type == driver_type)
    if output is OutputFormat.JSON:
        row = {
            "type": info.type,
            "name": info.name,
            "version": info.version,
            "config_schema": schema,
        }
        print_rows(output, (), [row])
        return
    title = f"{info.name} ({info.type} {info.version}): configuration"
    print_rows(output, _SCHEMA_COLUMNS, _schema_rows(schema), title=title)


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
        _refuse_installed(names.driver_type)
        target = path if path is not None else Path(names.distribution)
        write_package(names, target)
    except ScaffoldError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG_INVALID) from None
    typer.echo(f"created {target} (driver type {names.driver_type!r}, class {names.class_name})")
    typer.echo(f"next: cd {target} && pip install -e '.[test]' && pytest")


def _refuse_installed(driver_type: str) -> None:
    """An installed driver of the same type would make every command fail with
    `DuplicateDriverError` once the new package is installed: refuse the name now."""
    registry = discover_drivers()
    if driver_type in registry:
        distribution = registry.info(driver_type).distribution or "another package"
        raise ScaffoldError(
            f"driver type {driver_type!r} is already installed by {distribution}; "
            "choose another name"
        )
