"""How list, show and count commands print: a table that fits the terminal, or JSON lines.

`--output json` writes one JSON object per line to stdout with the documented field names
(docs/cli-output.md); nothing else goes to stdout then, so a pipe gets only data. The table
fits the terminal's width (80 columns included): columns are dropped, least important first,
until the rest fit without squeezing any below its minimum width; the remaining ones wrap.
A note under the table names the dropped columns and the flag that shows them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

__all__ = [
    "Column",
    "OutputFormat",
    "OutputOption",
    "fit_columns",
    "print_json_lines",
    "print_rows",
    "print_table",
]


class OutputFormat(StrEnum):
    """What a list/show/count command prints."""

    TABLE = "table"
    JSON = "json"


OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        case_sensitive=False,
        help="table (fits the terminal) or json (one JSON object per line, stable field names).",
    ),
]


@dataclass(frozen=True)
class Column:
    """A table column showing `key` of each row.

    `priority`: lower stays longer when the terminal is narrow (0 = never dropped).
    `min_width`: the narrowest it may wrap to; `max_width`: the widest it may take;
    `wrap=False` keeps values whole (names to copy): other columns give way first.
    """

    header: str
    key: str
    priority: int = 0
    min_width: int = 8
    max_width: int | None = None
    justify: JustifyMethod = "left"
    wrap: bool = True


# Per column: one space of padding on either side and one rule character between columns
# (rich's default box); plus the outer rule on each side.
_CELL_OVERHEAD = 3
_TABLE_OVERHEAD = 1


def _natural_width(column: Column, rows: Sequence[Mapping[str, Any]]) -> int:
    longest = max((len(_cell(row.get(column.key))) for row in rows), default=0)
    width = max(len(column.header), longest)
    return min(width, column.max_width) if column.max_width else width


def _floor(column: Column, rows: Sequence[Mapping[str, Any]]) -> int:
    """The narrowest the column may get: whole values if it must not wrap, else its minimum
    (never less than its header, never more than its widest value)."""
    natural = _natural_width(column, rows)
    if not column.wrap:
        return natural
    return min(natural, max(column.min_width, len(column.header)))


def _needed(chosen: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> int:
    floors = [_floor(c, rows) for c in chosen]
    return sum(floors) + _CELL_OVERHEAD * len(chosen) + _TABLE_OVERHEAD


def fit_columns(
    columns: Sequence[Column], rows: Sequence[Mapping[str, Any]], width: int
) -> tuple[list[Column], list[Column]]:
    """(kept, dropped): drop the least important columns until every kept one gets at least
    its minimum width (and its header whole) in `width` characters. Columns with priority 0
    are never dropped."""
    kept = list(columns)
    dropped: list[Column] = []
    while _needed(kept, rows) > width:
        candidates = [c for c in kept if c.priority > 0]
        if not candidates:
            break
        victim = max(candidates, key=lambda c: (c.priority, kept.index(c)))
        kept.remove(victim)
        dropped.append(victim)
    return kept, dropped


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(item) for item in value)
    return str(value)


def print_table(
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
    console: Console | None = None,
) -> None:
    """`rows` as a table that fits `console`'s width (see the module docstring)."""
    out = console or Console(highlight=False)
    kept, dropped = fit_columns(columns, rows, out.width)
    # Values too long for the terminal even alone: every column may wrap then.
    whole = _needed(kept, rows) <= out.width
    table = Table(title=title, title_justify="left")
    for column in kept:
        keep_whole = whole and not column.wrap
        table.add_column(
            column.header,
            justify=column.justify,
            overflow="fold",
            no_wrap=keep_whole,
            min_width=_floor(column, rows) if keep_whole or column.wrap else None,
            max_width=column.max_width,
        )
    for row in rows:
        table.add_row(*(Text(_cell(row.get(column.key))) for column in kept))
    out.print(table)
    if dropped:
        names = ", ".join(column.header for column in dropped)
        out.print(f"(not shown at this width: {names}; --output json has every field)")


def print_json_lines(rows: Sequence[Mapping[str, Any]]) -> None:
    """One compact JSON object per line on stdout (keys in the rows' order)."""
    write = sys.stdout.write
    for row in rows:
        write(orjson.dumps(row, default=str).decode() + "\n")
    sys.stdout.flush()


def print_rows(
    output: OutputFormat,
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
    table_rows: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """The command's rows in the chosen format; `table_rows` (same order) may hold display
    values the JSON keeps apart (e.g. ``partition/offset`` in one cell)."""
    if output is OutputFormat.JSON:
        print_json_lines(rows)
    else:
        print_table(columns, rows if table_rows is None else table_rows, title=title)
