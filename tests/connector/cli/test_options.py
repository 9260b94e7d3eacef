"""`options_from`: one function declares options that several commands take."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from connector.cli.options import options_from

Greeting = Annotated[str, typer.Option(help="How to greet.")]
Name = Annotated[str, typer.Option("--name", help="Whom to greet.")]


def _greeting(ctx: typer.Context, name: Name, greeting: Greeting = "hello") -> str:
    return f"{greeting} {name} from {ctx.info_name}"


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command("wave")
    @options_from(_greeting, into="text")
    def wave(
        ctx: typer.Context,
        times: Annotated[int, typer.Argument()],
        text: str,
        loud: Annotated[bool, typer.Option("--loud")] = False,
    ) -> None:
        line = f"{text} ({ctx.info_name})"
        typer.echo("\n".join([line.upper() if loud else line] * times))

    @app.command("nod")
    def nod() -> None:
        """A second command, so `wave` keeps its name."""

    return app


def test_the_command_gets_what_the_factory_built_from_its_options() -> None:
    result = CliRunner().invoke(_app(), ["wave", "2", "--name", "Ada", "--loud"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["HELLO ADA FROM WAVE (WAVE)"] * 2


def test_help_lists_the_factory_options_where_the_parameter_stood() -> None:
    result = CliRunner().invoke(_app(), ["wave", "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    flags = [word for word in result.stdout.split() if word.startswith("--")]
    assert flags == ["--name", "--greeting", "--loud", "--help"]


def test_a_required_factory_option_is_required_by_the_command() -> None:
    result = CliRunner().invoke(_app(), ["wave", "1"])

    assert result.exit_code == 2
    assert "--name" in result.output


def test_a_command_without_the_named_parameter_is_a_programming_error() -> None:
    def command(other: str) -> None:
        del other

    with pytest.raises(TypeError, match="has no parameter 'text'"):
        options_from(_greeting, into="text")(command)
