"""Avro schemas known locally, keyed by their CRC-64-AVRO fingerprint.

Avro single-object encoding names the writer schema by the 8-byte little-endian CRC-64-AVRO
("Rabin") fingerprint of its Parsing Canonical Form; a reader needs that schema to decode the
body. The catalogue holds the shipped schemas plus any other version registered at start-up
(an older or newer `MutationData` a producer may still or already write).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, cast

import fastavro
from fastavro.schema import SchemaParseException, to_parsing_canonical_form
from fastavro.schema import fingerprint as _fastavro_fingerprint

from connector.codec.errors import CodecError
from schemas import SCHEMA_NAMES, load_schema

__all__ = [
    "HISTORY_DIRECTORY",
    "CatalogueEntry",
    "SchemaCatalogue",
    "default_catalogue",
    "schema_fingerprint",
]

HISTORY_DIRECTORY = "history"
"""Released earlier schema versions live in ``schemas/history/*.avsc``."""


@dataclass(frozen=True, slots=True, eq=False)
class CatalogueEntry:
    """One schema: its fingerprint, full name, canonical form and fastavro-parsed form."""

    fingerprint: bytes
    """8 bytes, little-endian, as they follow 0xC3 0x01 in a single-object record."""
    name: str
    canonical_form: str
    parsed: dict[str, Any]
    """The schema as `fastavro.parse_schema` returned it; pass it to fastavro as is."""
    source: Mapping[str, Any]
    """The schema JSON as registered (with docs, defaults and logical types)."""

    @classmethod
    def of(cls, schema: Mapping[str, Any] | str) -> CatalogueEntry:
        """Parse a schema (dict or JSON text); `ValueError` if it is not valid Avro."""
        source, parsed = _parse(schema)
        canonical = to_parsing_canonical_form(parsed)
        return cls(
            fingerprint=_crc64(canonical),
            name=str(parsed.get("name", "")),
            canonical_form=canonical,
            parsed=parsed,
            source=source,
        )


def _parse(schema: Mapping[str, Any] | str) -> tuple[dict[str, Any], dict[str, Any]]:
    if isinstance(schema, str):
        try:
            source = json.loads(schema)
        except ValueError as exc:
            raise ValueError(f"schema text is not JSON: {exc}") from exc
    else:
        source = copy.deepcopy(dict(schema))
    if not isinstance(source, dict):
        raise ValueError("an Avro schema for the catalogue must be a JSON object (a named type)")
    try:
        # fastavro may annotate the dict it parses: give it its own copy.
        parsed = cast(dict[str, Any], fastavro.parse_schema(copy.deepcopy(source)))
    except (SchemaParseException, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a valid Avro schema: {exc}") from exc
    return source, parsed


def schema_fingerprint(schema: Mapping[str, Any] | str) -> bytes:
    """The CRC-64-AVRO fingerprint of a named schema (dict or JSON text): 8 bytes, little-endian."""
    return CatalogueEntry.of(schema).fingerprint


def _crc64(canonical_form: str) -> bytes:
    # fastavro returns the hex of the little-endian bytes: the order single-object encoding
    # writes (Java's `SchemaNormalization.parsingFingerprint64`, written with putLong LE).
    return bytes.fromhex(_fastavro_fingerprint(canonical_form, "CRC-64-AVRO"))


class SchemaCatalogue:
    """Schemas by fingerprint. Registration is idempotent; lookups are a dict access."""

    def __init__(self) -> None:
        self._entries: dict[bytes, CatalogueEntry] = {}

    def register(self, schema: Mapping[str, Any] | str) -> CatalogueEntry:
        """Add a writer schema (dict or JSON text) and return its entry.

        Raises `ValueError` for text that is not a valid Avro schema.
        """
        entry = CatalogueEntry.of(schema)
        return self._entries.setdefault(entry.fingerprint, entry)

    def register_directory(self, directory: Traversable) -> list[CatalogueEntry]:
        """Register every ``*.avsc`` file in `directory` (a path or package resource)."""
        if not directory.is_dir():
            return []
        files = sorted(
            (item for item in directory.iterdir() if item.name.endswith(".avsc")),
            key=lambda item: item.name,
        )
        return [self.register(item.read_text(encoding="utf-8")) for item in files]

    def get(self, fingerprint: bytes) -> CatalogueEntry:
        """The entry for `fingerprint`; `CodecError` (``unknown-fingerprint``) if none."""
        entry = self._entries.get(fingerprint)
        if entry is None:
            raise CodecError(
                "unknown-fingerprint",
                f"no schema with CRC-64-AVRO fingerprint {fingerprint.hex()} in the catalogue; "
                "register the writer's schema version (see schemas/EVOLUTION.md)",
            )
        return entry

    def __contains__(self, fingerprint: object) -> bool:
        return fingerprint in self._entries

    def __iter__(self) -> Iterator[CatalogueEntry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)


def default_catalogue() -> SchemaCatalogue:
    """A new catalogue with every schema shipped in the `schemas` package: the current
    versions and the released earlier ones kept in ``schemas/history/`` (see EVOLUTION.md)."""
    catalogue = SchemaCatalogue()
    for name in SCHEMA_NAMES:
        catalogue.register(load_schema(name))
    catalogue.register_directory(files("schemas").joinpath(HISTORY_DIRECTORY))
    return catalogue
