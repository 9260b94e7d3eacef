"""`iec-connector demo --driver sql|webhook` end to end against the real broker."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from typer.testing import Result

RunDemo = Callable[..., Result]

pytestmark = pytest.mark.kafka


def _figure(output: str, label: str) -> int:
    match = re.search(rf"^{label}\s+(\d+)", output, re.MULTILINE)
    assert match, f"no {label!r} line in the summary:\n{output}"
    return int(match.group(1))


def _table_rows(output: str, title: str) -> dict[str, list[str]]:
    """The rows of the rich table under `title`: first cell → the other cells."""
    lines = output.split(title, 1)[1].splitlines()
    rows: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line.strip():
            break
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) > 1 and cells[1].isdigit():
            rows[cells[0]] = cells[1:]
    return rows


def test_the_sql_demo_shows_the_tables_equal_to_the_catalogue(
    kafka_bootstrap: str, run_demo: RunDemo
) -> None:
    result = run_demo("--driver", "sql", "--products", "30", "--bootstrap-servers", kafka_bootstrap)

    out = result.output
    assert result.exit_code == 0, out
    assert "demo OK" in out
    assert _figure(out, "dead letters") == 0
    tables = _table_rows(out, "What the database holds")
    product = next(cells for name, cells in tables.items() if name.endswith("_product"))
    rows, live, deleted = (int(c) for c in product[:3])
    assert rows == 30  # every product, the deleted ones as soft-deleted rows
    assert deleted >= 1
    assert live + deleted == rows
    assert len(tables) == 4


def test_the_webhook_demo_shows_every_signature_verified(
    kafka_bootstrap: str, run_demo: RunDemo
) -> None:
    result = run_demo(
        "--driver", "webhook", "--products", "30", "--bootstrap-servers", kafka_bootstrap
    )

    out = result.output
    assert result.exit_code == 0, out
    assert "demo OK" in out
    figures = re.search(
        r"(\d+) requests, (\d+) signatures verified, \d+ repeated message ids dropped, "
        r"(\d+) rejected",
        " ".join(out.split()),  # the caption may wrap
    )
    assert figures, out
    requests, verified, rejected = (int(n) for n in figures.groups())
    assert requests == verified > 0
    assert rejected == 0
    held = _table_rows(out, "What the receiver holds")
    assert set(held) == {"attribute", "category", "family", "product"}
    assert int(held["product"][0]) == 30
