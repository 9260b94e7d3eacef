"""The `iec-connector` command: sub-apps for config, drivers and topics."""

from __future__ import annotations

import typer

from connector.cli import (
    config_cmd,
    dead_letters_cmd,
    demo_cmd,
    drivers_cmd,
    mappings_cmd,
    run_cmd,
    schemas_cmd,
    setup_cmd,
    topics_cmd,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="iec-connector",
    help="Carry IEC mutation events from Kafka to downstream systems through drivers.",
    no_args_is_help=True,
    # Tracebacks must never print local variables: client configs hold revealed secrets.
    pretty_exceptions_show_locals=False,
)
app.add_typer(config_cmd.app)
app.add_typer(drivers_cmd.app)
app.add_typer(topics_cmd.app)
app.add_typer(mappings_cmd.app, name="mappings")
app.add_typer(dead_letters_cmd.app, name="dead-letters")
app.add_typer(schemas_cmd.app, name="schemas")
app.command("run")(run_cmd.run)
app.command("demo")(demo_cmd.demo)
app.command("setup")(setup_cmd.setup)


def main() -> None:
    """Entry point of the `iec-connector` script."""
    app()
