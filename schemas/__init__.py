"""The Avro schemas of the wire contract, shipped inside the wheel.

Load them through `load_schema`, never through a path relative to the source tree.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

__all__ = ["SCHEMA_NAMES", "load_schema", "schema_text"]

SCHEMA_NAMES = ("mutation_data", "mapping_record")


def schema_text(name: str) -> str:
    """The `.avsc` text of a shipped schema (e.g. ``"mutation_data"``)."""
    if name not in SCHEMA_NAMES:
        raise KeyError(f"unknown schema {name!r}; shipped schemas: {', '.join(SCHEMA_NAMES)}")
    return files(__name__).joinpath(f"{name}.avsc").read_text(encoding="utf-8")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed JSON of a shipped schema (not yet parsed by fastavro)."""
    schema: dict[str, Any] = json.loads(schema_text(name))
    return schema
