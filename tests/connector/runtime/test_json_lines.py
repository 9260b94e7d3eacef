"""The test drivers' JSON-lines reader (tests/support/json_lines.py): a line still being
written is skipped, and a line torn by a SIGKILL keeps only the complete value after it."""

from __future__ import annotations

from pathlib import Path

import orjson
from json_lines import read_json_lines

A = orjson.dumps({"u": "a", "v": 1, "ok": True})
B = orjson.dumps({"u": "b", "v": 2, "ok": True})


def test_no_file_yet_reads_as_empty(tmp_path: Path) -> None:
    assert read_json_lines(str(tmp_path / "calls.jsonl")) == []


def test_a_last_line_without_its_newline_is_still_being_written(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_bytes(A + b"\n" + B[:10])
    assert read_json_lines(str(path)) == [orjson.loads(A)]
    path.write_bytes(A + b"\n" + B + b"\n")
    assert read_json_lines(str(path)) == [orjson.loads(A), orjson.loads(B)]


def test_a_torn_line_keeps_the_complete_value_that_follows_it(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_bytes(A + b"\n" + A[:12] + B + b"\n" + A + b"\n")
    assert read_json_lines(str(path)) == [orjson.loads(A), orjson.loads(B), orjson.loads(A)]


def test_list_lines_too(tmp_path: Path) -> None:
    line = orjson.dumps(["create", "uuid-1", "ext-1", 1])
    path = tmp_path / "downstream.jsonl"
    path.write_bytes(line[:7] + line + b"\n")
    assert read_json_lines(str(path)) == [["create", "uuid-1", "ext-1", 1]]
