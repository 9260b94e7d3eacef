"""The mapping record's key and value format (no Kafka)."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.codec.errors import CodecError
from connector.codec.framing import Framing, confluent_header, parse_header, single_object_header
from connector.mapping_store.record import (
    HEADER,
    SCHEMA_FINGERPRINT,
    MappingRecord,
    crc64_avro_fingerprint,
    decode_record,
    encode_record,
    mapping_key,
    split_key,
    to_mapping_data,
)
from contracts import MappingData
from schemas import load_schema

_JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_EXTERNAL_DATA = st.none() | st.dictionaries(st.text(max_size=12), _JSON, max_size=5)
_MILLIS = st.integers(0, 2**62)
_RECORDS = st.builds(
    MappingRecord, st.text(min_size=1, max_size=300), _EXTERNAL_DATA, _MILLIS, _MILLIS
)


@pytest.mark.parametrize(
    ("schema", "published"),
    [
        # Apache Avro's share/test/data/schema-tests.txt (signed 64-bit Rabin fingerprints).
        ("null", 7195948357588979594),
        ("int", 8247732601305521295),
        ("long", -3434872931120570953),
    ],
)
def test_fingerprint_is_avro_crc64_in_little_endian_order(schema: str, published: int) -> None:
    assert crc64_avro_fingerprint(schema) == published.to_bytes(8, "little", signed=True)


def test_values_carry_the_single_object_header_of_the_shipped_schema() -> None:
    value = encode_record(MappingRecord("42", None, 1, 2))
    framing, fingerprint, body_at = parse_header(value)
    assert framing is Framing.SINGLE_OBJECT
    assert (
        fingerprint == SCHEMA_FINGERPRINT == crc64_avro_fingerprint(load_schema("mapping_record"))
    )
    assert value[:body_at] == HEADER == single_object_header(SCHEMA_FINGERPRINT)


def test_body_is_readable_by_a_generic_avro_reader_with_the_shipped_schema() -> None:
    record = MappingRecord(
        "ext-7", {"sku": "A-1", "ids": [1, 2]}, 1_700_000_000_123, 1_700_000_000_456
    )
    fields: Any = fastavro.schemaless_reader(
        io.BytesIO(encode_record(record)[len(HEADER) :]),
        fastavro.parse_schema(load_schema("mapping_record")),
        None,
    )
    assert fields["external_id"] == "ext-7"
    assert fields["external_data"] == '{"sku":"A-1","ids":[1,2]}'
    assert fields["created_at"] == record.created_at  # timestamp-millis, as a datetime


@given(_RECORDS)
def test_record_round_trips(record: MappingRecord) -> None:
    assert decode_record(encode_record(record)) == record


@given(_RECORDS)
def test_find_fast_path_agrees_with_fastavro(record: MappingRecord) -> None:
    value = encode_record(record)
    decoded = decode_record(value)
    assert to_mapping_data(value) == MappingData(
        external_id=decoded.external_id, external_data=decoded.external_data
    )


def test_timestamps_are_utc_datetimes() -> None:
    record = MappingRecord("1", None, 1_700_000_000_123, 1_700_000_000_123)
    assert record.created_at.isoformat(timespec="milliseconds") == "2023-11-14T22:13:20.123+00:00"


def test_external_data_that_is_not_json_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON-serialisable"):
        encode_record(MappingRecord("1", {"when": object()}, 0, 0))


def _garbage_cases() -> list[tuple[str, bytes, str]]:
    good = encode_record(MappingRecord("ext", {"a": 1}, 5, 6))
    other_fingerprint = single_object_header(b"\x01" * 8) + good[len(HEADER) :]
    not_object = encode_record(MappingRecord("ext", None, 5, 6))
    # external_data branch 1 with the JSON text "[1]" instead of an object:
    list_data = HEADER + b"\x06ext" + b"\x02" + b"\x06[1]" + good[-2:]
    return [
        ("empty", b"", "empty"),
        ("schema-registry", confluent_header(7) + good[len(HEADER) :], "unknown-framing"),
        ("other fingerprint", other_fingerprint, "unknown-fingerprint"),
        ("truncated body", good[:-4], "avro"),
        ("trailing bytes", good + b"\x00", "trailing-bytes"),
        ("json list", list_data, "payload-json"),
        (
            "bad union",
            not_object[: len(HEADER) + 4] + b"\x08" + not_object[len(HEADER) + 5 :],
            "avro",
        ),
        ("garbage", b"hello", "unknown-framing"),
    ]


@pytest.mark.parametrize(("case", "value", "reason"), _garbage_cases(), ids=lambda v: str(v)[:20])
def test_undecodable_values_raise_codec_error(case: str, value: bytes, reason: str) -> None:
    with pytest.raises(CodecError) as caught:
        decode_record(value)
    assert caught.value.reason == reason, case


@pytest.mark.parametrize(
    "value",
    [b"", b"hello", single_object_header(b"\x01" * 8) + b"\x02a\x00\x00\x00", HEADER + b"\x7f"],
)
def test_find_fast_path_raises_codec_error_for_undecodable_values(value: bytes) -> None:
    with pytest.raises(CodecError):
        to_mapping_data(value)


def test_key_is_type_colon_uuid_in_utf8() -> None:
    assert mapping_key("product", "0b6c3c8e-2f4e") == b"product:0b6c3c8e-2f4e"
    assert mapping_key("catégorie", "ü") == "catégorie:ü".encode()
    assert split_key(b"product:0b6c3c8e-2f4e") == ("product", "0b6c3c8e-2f4e")


def test_uuid_may_contain_a_colon_but_the_entity_type_may_not() -> None:
    assert split_key(mapping_key("product", "sku:1:2")) == ("product", "sku:1:2")
    with pytest.raises(ValueError, match="must not contain ':'"):
        mapping_key("pro:duct", "1")


@pytest.mark.parametrize(("entity_type", "entity_uuid"), [("", "1"), ("product", "")])
def test_empty_key_parts_are_refused(entity_type: str, entity_uuid: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        mapping_key(entity_type, entity_uuid)


@pytest.mark.parametrize("key", [b"product", b":1", b"product:"])
def test_malformed_keys_are_refused(key: bytes) -> None:
    with pytest.raises(ValueError, match="has the form"):
        split_key(key)


def test_keys_that_are_not_utf8_are_refused() -> None:
    with pytest.raises(UnicodeDecodeError):
        split_key(b"\xff:1")
