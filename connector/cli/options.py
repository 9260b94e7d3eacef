"""Options several `iec-connector` commands share, and `options_from` to declare a group once.

Typer has no option groups (typer issue #153): `options_from` merges a factory's parameters
into a command's signature, so commands that need the same options (`--config`, the cluster
address, topic prefixes, filters) declare them in one function and receive what it builds.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from connector.config import CONFIG_PATH_ENV
from connector.topics import TopicSettings

__all__ = [
    "CLUSTER_PANEL",
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_TOPICS",
    "Bootstrap",
    "ConfigFile",
    "IntegrationRef",
    "options_from",
]

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_TOPICS = TopicSettings()
"""Topic and group prefixes when neither a configuration nor an option names them."""
CLUSTER_PANEL = "Cluster (without --config)"
"""`--help` section of the options that `--config` replaces."""

ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar=CONFIG_PATH_ENV,
        show_default=False,
        help=f"The YAML configuration (default: ${CONFIG_PATH_ENV}).",
    ),
]
IntegrationRef = Annotated[
    str,
    typer.Option(
        "--integration",
        "-i",
        show_default=False,
        help="Integration uuid; with --config also its name.",
    ),
]
Bootstrap = Annotated[
    str,
    typer.Option(
        "--bootstrap-servers",
        envvar="KAFKA_BOOTSTRAP_SERVERS",
        help="Kafka bootstrap servers.",
        rich_help_panel=CLUSTER_PANEL,
    ),
]

_T = TypeVar("_T")
_R = TypeVar("_R")


def options_from(
    factory: Callable[..., _T], *, into: str
) -> Callable[[Callable[..., _R]], Callable[..., _R]]:
    """Give the decorated command `factory`'s parameters as options of its own; the command
    receives ``factory(**their values)`` as its parameter `into`.

    A parameter both declare (e.g. ``ctx``) is passed to both. Apply below ``@app.command``.
    """

    def decorate(command: Callable[..., _R]) -> Callable[..., _R]:
        own = inspect.signature(command, eval_str=True)
        wanted = inspect.signature(factory, eval_str=True).parameters
        if into not in own.parameters:
            raise TypeError(f"{command.__name__} has no parameter {into!r}")
        names = list(own.parameters)
        at = names.index(into)
        before = [own.parameters[name] for name in names[:at]]
        taken = set(names)
        # The group's options stand where `into` stood. Keyword-only from there on, so an
        # option without a default may follow one with a default.
        keyword = inspect.Parameter.KEYWORD_ONLY
        added = [p.replace(kind=keyword) for p in wanted.values() if p.name not in taken]
        after = [own.parameters[name].replace(kind=keyword) for name in names[at + 1 :]]

        @functools.wraps(command)
        def run(**values: Any) -> _R:
            built = factory(**{name: values[name] for name in wanted})
            for parameter in added:
                del values[parameter.name]
            return command(**values, **{into: built})

        merged = own.replace(parameters=[*before, *added, *after])
        run.__signature__ = merged  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in merged.parameters.values()}
        return run

    return decorate
