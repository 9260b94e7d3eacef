"""SchemaCatalogue: CRC-64-AVRO fingerprints as Avro single-object encoding writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.codec import CodecError, SchemaCatalogue, default_catalogue, schema_fingerprint
from schemas import SCHEMA_NAMES, load_schema

# Apache Avro's published Parsing Canonical Form test vectors (share/test/data/schema-tests.txt):
# the CRC-64-AVRO fingerprint as Java's signed long.
AVRO_VECTORS = [
    (
        '{"type":"record","name":"foo","fields":[{"name":"f1","type":"boolean"}]}',
        7843277075252814651,
    ),
    (
        '{"name":"foo","type":"record","fields":'
        '[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}',
        -4860222112080293046,
    ),
    ('{"name":"foo","type":"fixed","size":15}', 1756455273707447556),
    ('{"name":"foo","type":"enum","symbols":["A1"]}', -6342190197741309591),
]


@pytest.mark.parametrize(("schema", "java_long"), AVRO_VECTORS)
def test_fingerprint_matches_avro_vectors_in_little_endian_order(
    schema: str, java_long: int
) -> None:
    assert schema_fingerprint(schema) == java_long.to_bytes(8, "little", signed=True)


def test_default_catalogue_holds_every_shipped_schema() -> None:
    catalogue = default_catalogue()

    names = {entry.name for entry in catalogue}

    assert names == {"iec.mutations.v1.MutationData", "iec.mappings.v1.MappingRecord"}
    for name in SCHEMA_NAMES:
        assert schema_fingerprint(load_schema(name)) in catalogue


def test_registration_is_idempotent_and_ignores_docs_and_whitespace() -> None:
    catalogue = SchemaCatalogue()
    schema = load_schema("mutation_data")
    reformatted = json.dumps({**schema, "doc": "another description"}, indent=4)

    first = catalogue.register(schema)
    second = catalogue.register(reformatted)

    assert second is first
    assert len(catalogue) == 1
    assert catalogue.get(first.fingerprint) is first


def test_a_changed_schema_gets_its_own_fingerprint() -> None:
    catalogue = default_catalogue()
    schema = load_schema("mutation_data")
    newer = {**schema, "fields": [*schema["fields"], {"name": "x", "type": "int", "default": 0}]}

    entry = catalogue.register(newer)

    assert entry.fingerprint != schema_fingerprint(schema)
    assert catalogue.get(entry.fingerprint).source == newer


def test_unknown_fingerprint_is_a_codec_error() -> None:
    with pytest.raises(CodecError) as caught:
        default_catalogue().get(b"\x00" * 8)

    assert caught.value.reason == "unknown-fingerprint"
    assert "0000000000000000" in str(caught.value)


@pytest.mark.parametrize(
    "schema",
    [
        "not json",
        '"string"',
        '{"type": "nope", "name": "A"}',
        '{"type": "record", "name": "A", "fields": [{"name": "x", "type": "Missing"}]}',
    ],
)
def test_invalid_schemas_are_refused(schema: str) -> None:
    with pytest.raises(ValueError, match="schema"):
        SchemaCatalogue().register(schema)


def test_register_directory_adds_every_avsc_file(tmp_path: Path) -> None:
    schema = load_schema("mutation_data")
    older = {**schema, "fields": [f for f in schema["fields"] if f["name"] != "version"]}
    (tmp_path / "mutation_data.v0.avsc").write_text(json.dumps(older), encoding="utf-8")
    (tmp_path / "README.md").write_text("not a schema", encoding="utf-8")
    catalogue = SchemaCatalogue()

    entries = catalogue.register_directory(tmp_path)

    assert [entry.source for entry in entries] == [older]
    assert schema_fingerprint(older) in catalogue
    assert len(catalogue) == 1


def test_register_directory_of_a_missing_directory_adds_nothing(tmp_path: Path) -> None:
    assert SchemaCatalogue().register_directory(tmp_path / "absent") == []
