"""Reading a JSON-lines file that other processes append to while it is read.

The test drivers append one JSON value per line, and tests read the file while connectors
still write it. Two things can be seen meanwhile:

1. A write in progress: the kernel copies a write that crosses a page boundary page by page
   and the file grows as it goes (seen in CI), so the last line may lack its newline. It is
   skipped: it is whole on the next read.
2. A torn line: a SIGKILL can cut a write short at a page boundary, and the next process's
   line then follows the torn part on the same line. Only that complete value is kept (the
   killed process never committed the torn call's records, so they are handled again).
"""

from __future__ import annotations

import os
from typing import Any

import orjson

__all__ = ["read_json_lines"]


def read_json_lines(path: str) -> list[Any]:
    """Every complete value in the file, in file order (empty if there is no file yet)."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    *lines, _in_progress = data.split(b"\n")
    values: list[Any] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            values.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            # A torn line: the complete value is the last one that starts as lines do.
            values.append(orjson.loads(line[line.rindex(line[:2]) :]))
    return values
