"""`PartialBatchError`'s docstring and the driver guide tell authors the same runtime steps
(the runtime's own tests, tests/connector/runtime/test_handling.py, pin the behaviour)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from contracts import PartialBatchError

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "driver-guide.md"


def _steps(text: str) -> list[str]:
    """The numbered list "1. ... 2. ... 3. ..." as plain words (markdown emphasis dropped)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("1. "))
    items: list[str] = []
    for line in lines[start:]:
        stripped = line.strip()
        if not stripped:
            break
        if re.match(r"\d+\. ", stripped):
            items.append(stripped.split(" ", 1)[1])
        else:
            items[-1] += " " + stripped
    return [" ".join(item.replace("*", "").split()) for item in items]


def test_the_docstring_and_the_guide_describe_the_same_steps() -> None:
    guide = GUIDE.read_text()
    section = guide[guide.index("**`PartialBatchError`**") :]
    doc = inspect.getdoc(PartialBatchError) or ""

    assert _steps(doc) == _steps(section)
    assert "whole batch is retried" not in doc  # handled records are never re-sent for it
