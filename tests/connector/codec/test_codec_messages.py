"""Codec errors travel in dead-letter headers: every reason's message is bounded and says in a
sentence what is wrong (fastavro's own schema-mismatch text is kilobytes of schema dumps)."""

from __future__ import annotations

import copy
from io import BytesIO

import fastavro
import pytest

from connector.codec import CodecError, MutationCodec
from connector.codec.framing import single_object_header
from schemas import load_schema


def reason_and_message(codec: MutationCodec, data: bytes) -> tuple[str, str]:
    with pytest.raises(CodecError) as caught:
        codec.decode(data)
    return caught.value.reason, str(caught.value)


def test_another_record_schema_is_named_in_a_short_message() -> None:
    codec = MutationCodec()
    mapping = codec.catalogue.register(load_schema("mapping_record"))
    out = BytesIO()
    record = {"external_id": "x", "external_data": None, "created_at": 0, "updated_at": 0}
    fastavro.schemaless_writer(out, mapping.parsed, record)
    reason, message = reason_and_message(
        codec, single_object_header(mapping.fingerprint) + out.getvalue()
    )
    assert reason == "incompatible-schema"
    assert message == (
        "incompatible-schema: the writer schema iec.mappings.v1.MappingRecord cannot be read as "
        "iec.mutations.v1.MutationData: a different record (see schemas/EVOLUTION.md)"
    )


def test_a_changed_field_type_is_named() -> None:
    codec = MutationCodec()
    changed = copy.deepcopy(load_schema("mutation_data"))
    for field in changed["fields"]:
        if field["name"] == "entity_type":
            field["type"] = "int"
    entry = codec.catalogue.register(changed)
    reason, message = reason_and_message(
        codec, single_object_header(entry.fingerprint) + b"\x00" * 8
    )
    assert reason == "incompatible-schema"
    assert "field(s) entity_type changed type" in message
    assert len(message) < 300


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{}",
        b"\x00\x00\x01",
        b"\xc3\x01" + b"\x01" * 8 + b"\x00",
        b"\xc3\x01" + b"\xff" * 1000,
    ],
)
def test_every_reason_is_bounded(data: bytes) -> None:
    _, message = reason_and_message(MutationCodec(), data)
    assert len(message) <= CodecError.max_message_chars


def test_a_long_message_is_cut() -> None:
    error = CodecError("avro", "x" * 5000)
    assert len(str(error)) == CodecError.max_message_chars
    assert str(error).endswith("…")
