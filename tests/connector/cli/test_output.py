"""The CLI's table fitting and JSON lines (pure)."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from connector.cli.output import Column, fit_columns, print_json_lines, print_table

COLUMNS = (
    Column("offset", "offset", min_width=6),
    Column("entity", "entity", wrap=False),
    Column("error", "error", priority=2, min_width=10),
    Column("message", "message", priority=3, min_width=20),
    Column("tries", "tries", priority=4, min_width=5),
)
ROWS = [
    {
        "offset": f"0/{n}",
        "entity": f"product:sku-{n:04d}",
        "error": "PermanentError",
        "message": "the downstream refused the record because its price is negative " * 2,
        "tries": 3,
    }
    for n in range(5)
]


def render(width: int) -> str:
    buffer = io.StringIO()
    print_table(COLUMNS, ROWS, title="dead letters", console=Console(file=buffer, width=width))
    return buffer.getvalue()


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_tables_fit_the_width_with_whole_headers_and_entities(width: int) -> None:
    text = render(width)
    lines = text.splitlines()

    assert max(len(line) for line in lines) <= width
    table = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert all(line.rstrip()[-1] in "┓┃┩│┘" for line in table), "the table was cut off"
    kept, dropped = fit_columns(COLUMNS, ROWS, width)
    header = next(line for line in lines if "offset" in line)
    for column in kept:
        assert column.header in header  # never crushed below its header
    for row in ROWS:
        assert any(str(row["entity"]) in line for line in lines)  # not wrapped
    if dropped:
        assert "not shown at this width" in text
        assert all(
            column.header in text.splitlines()[-1] + text.splitlines()[-2] for column in dropped
        )


def test_columns_are_dropped_least_important_first() -> None:
    wide, none = fit_columns(COLUMNS, ROWS, 250)
    narrow, gone = fit_columns(COLUMNS, ROWS, 60)

    assert none == []
    assert [c.header for c in wide] == [c.header for c in COLUMNS]
    assert [c.header for c in gone][:1] == ["tries"]
    assert [c.header for c in narrow][:2] == ["offset", "entity"]


def test_json_lines_are_one_object_per_line_in_field_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_json_lines(ROWS)

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(ROWS)
    assert [list(json.loads(line)) for line in lines] == [list(ROWS[0])] * len(ROWS)
