"""MutationCodec: round trips in both framings, framing detection, and every failure's reason."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from io import BytesIO
from typing import Any

import fastavro
import orjson
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from hypothesis import HealthCheck, given, settings
from mutation_strategies import mutations, product
from registry_stub import RegistryStub

from connector.codec import (
    CodecError,
    Framing,
    MutationCodec,
    SchemaRegistryUnavailableError,
    default_catalogue,
)
from connector.codec.framing import confluent_header, single_object_header
from connector.topics import TopicSettings
from contracts import ConfigurationError, FrozenDict, JsonPayload, MutationData, thaw
from schemas import load_schema, schema_text

REUSABLE_FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
CURRENT = fastavro.parse_schema(copy.deepcopy(load_schema("mutation_data")))


def avro_body(record: dict[str, Any]) -> bytes:
    out = BytesIO()
    fastavro.schemaless_writer(out, CURRENT, record)
    return out.getvalue()


def raw_record(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "entity_type": "product",
        "entity_uuid": "u-1",
        "operation": "created",
        "payload": '{"sku": "A"}',
        "changed_fields": [],
        "event_id": None,
        "occurred_at": None,
        "version": None,
    }
    record.update(overrides)
    return record


def single_object(record: dict[str, Any]) -> bytes:
    fingerprint = default_catalogue().register(load_schema("mutation_data")).fingerprint
    return single_object_header(fingerprint) + avro_body(record)


def decode_reason(codec: MutationCodec, data: bytes) -> str:
    with pytest.raises(CodecError) as caught:
        codec.decode(data)
    return caught.value.reason


@REUSABLE_FIXTURES
@given(mutation=mutations())
def test_any_mutation_round_trips_in_single_object_framing(
    single_object_codec: MutationCodec, mutation: MutationData
) -> None:
    data = single_object_codec.encode(mutation)

    assert data[:2] == b"\xc3\x01"
    assert single_object_codec.decode(data) == mutation


@REUSABLE_FIXTURES
@given(mutation=mutations())
def test_any_mutation_round_trips_in_schema_registry_framing(
    confluent_codec: MutationCodec, mutation: MutationData
) -> None:
    data = confluent_codec.encode(mutation)

    assert data[0] == 0
    assert confluent_codec.decode(data) == mutation


@REUSABLE_FIXTURES
@given(mutation=mutations())
def test_encoded_body_is_byte_identical_to_fastavro_with_the_shipped_schema(
    single_object_codec: MutationCodec, mutation: MutationData
) -> None:
    shipped = raw_record(
        entity_type=mutation.entity_type,
        entity_uuid=mutation.entity_uuid,
        operation=mutation.operation.value,
        payload=orjson.dumps(thaw(mutation.payload)).decode(),
        changed_fields=list(mutation.changed_fields),
        event_id=mutation.event_id,
        occurred_at=mutation.occurred_at,
        version=mutation.version,
    )

    assert single_object_codec.encode(mutation)[10:] == avro_body(shipped)


def test_decoded_payload_is_read_only_and_equal_to_plain_dicts(
    single_object_codec: MutationCodec,
) -> None:
    decoded = single_object_codec.decode(single_object_codec.encode(product()))

    assert type(decoded.payload) is FrozenDict
    assert decoded.payload == product().payload
    with pytest.raises(TypeError):
        decoded.payload["values"][0]["value"] = "changed"


def test_codec_with_registry_decodes_both_framings(
    single_object_codec: MutationCodec, confluent_codec: MutationCodec
) -> None:
    mutation = product()

    assert confluent_codec.decode(single_object_codec.encode(mutation)) == mutation
    assert single_object_codec.decode(single_object_codec.encode(mutation)) == mutation


def test_schema_is_registered_once_per_topic_subject(registry: SchemaRegistryClient) -> None:
    codec = MutationCodec(
        framing=Framing.CONFLUENT,
        schema_registry_client=registry,
        topics=TopicSettings(mutation_prefix="shop.events"),
    )

    codec.encode(product())
    codec.encode(product(entity_uuid="other"))
    codec.encode(product(entity_type="category"))

    assert sorted(registry.get_subjects()) == [
        "shop.events.category-value",
        "shop.events.product-value",
    ]
    assert registry.get_versions("shop.events.product-value") == [1]


def test_lookup_only_codec_uses_an_already_registered_schema(
    registry: SchemaRegistryClient, confluent_codec: MutationCodec
) -> None:
    registered = confluent_codec.encode(product())
    lookup_only = MutationCodec(
        framing=Framing.CONFLUENT, schema_registry_client=registry, auto_register=False
    )

    assert lookup_only.encode(product())[:5] == registered[:5]


def test_lookup_only_codec_fails_for_an_unregistered_subject(
    registry: SchemaRegistryClient,
) -> None:
    lookup_only = MutationCodec(
        framing=Framing.CONFLUENT, schema_registry_client=registry, auto_register=False
    )

    with pytest.raises(CodecError) as caught:
        lookup_only.encode(product())
    assert caught.value.reason == "unknown-schema-id"


def test_schema_registry_framing_without_a_client_is_refused() -> None:
    with pytest.raises(ValueError, match="schema_registry_client"):
        MutationCodec(framing=Framing.CONFLUENT)


def test_naive_occurred_at_is_taken_as_utc(single_object_codec: MutationCodec) -> None:
    naive = product(occurred_at=datetime(2024, 1, 2, 3, 4, 5, 6))

    decoded = single_object_codec.decode(single_object_codec.encode(naive))

    assert decoded.occurred_at == datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


# -- decoding failures ---------------------------------------------------------------------


def test_schema_registry_record_without_a_registry_is_unknown_schema_id(
    single_object_codec: MutationCodec, confluent_codec: MutationCodec
) -> None:
    data = confluent_codec.encode(product())

    assert decode_reason(single_object_codec, data) == "unknown-schema-id"


def test_schema_id_the_registry_does_not_know_is_unknown_schema_id(
    confluent_codec: MutationCodec,
) -> None:
    data = confluent_header(4242) + avro_body(raw_record())

    assert decode_reason(confluent_codec, data) == "unknown-schema-id"


def test_schema_id_of_a_non_avro_schema_is_unknown_schema_id(
    registry: SchemaRegistryClient, confluent_codec: MutationCodec
) -> None:
    schema_id = registry.register_schema(
        "json-value", Schema('{"type": "object"}', schema_type="JSON")
    )

    data = confluent_header(schema_id) + avro_body(raw_record())

    assert decode_reason(confluent_codec, data) == "unknown-schema-id"


def test_unknown_fingerprint_is_reported(single_object_codec: MutationCodec) -> None:
    data = single_object_header(b"\x01" * 8) + avro_body(raw_record())

    assert decode_reason(single_object_codec, data) == "unknown-fingerprint"


def test_record_of_another_schema_is_incompatible(single_object_codec: MutationCodec) -> None:
    mapping = single_object_codec.catalogue.register(load_schema("mapping_record"))
    out = BytesIO()
    fastavro.schemaless_writer(
        out,
        mapping.parsed,
        {"external_id": "x", "external_data": None, "created_at": 0, "updated_at": 0},
    )

    data = single_object_header(mapping.fingerprint) + out.getvalue()

    assert decode_reason(single_object_codec, data) == "incompatible-schema"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"{}", "unknown-framing"),
        (b"\xc3\x02" + b"\x00" * 20, "unknown-framing"),
        (b"\x00\x00\x01", "truncated-header"),
        (b"\xc3\x01\x00\x00", "truncated-header"),
    ],
)
def test_bad_headers_name_their_reason(
    single_object_codec: MutationCodec, data: bytes, reason: str
) -> None:
    assert decode_reason(single_object_codec, data) == reason


def test_null_value_is_empty(single_object_codec: MutationCodec) -> None:
    with pytest.raises(CodecError) as caught:
        single_object_codec.decode(None)

    assert caught.value.reason == "empty"


def test_truncated_body_is_an_avro_error(single_object_codec: MutationCodec) -> None:
    data = single_object_codec.encode(product())

    assert decode_reason(single_object_codec, data[:-3]) == "avro"


def test_bytes_after_the_record_are_trailing_bytes(single_object_codec: MutationCodec) -> None:
    data = single_object_codec.encode(product())

    assert decode_reason(single_object_codec, data + b"\x00") == "trailing-bytes"


@pytest.mark.parametrize(
    "payload", ["[1, 2]", '"text"', "42", "null", "{not json", "", '{"a": 1} trailing']
)
def test_payload_that_is_not_a_json_object_is_payload_json(
    single_object_codec: MutationCodec, payload: str
) -> None:
    data = single_object(raw_record(payload=payload))

    assert decode_reason(single_object_codec, data) == "payload-json"


def test_occurred_at_beyond_the_datetime_range_is_an_avro_error(
    single_object_codec: MutationCodec,
) -> None:
    data = single_object(raw_record(occurred_at=2**62))

    assert decode_reason(single_object_codec, data) == "avro"


def test_occurred_at_keeps_microseconds_and_the_instant_across_time_zones(
    single_object_codec: MutationCodec,
) -> None:
    moment = datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-3)))

    decoded = single_object_codec.decode(single_object_codec.encode(product(occurred_at=moment)))

    assert decoded.occurred_at == moment
    assert decoded.occurred_at is not None
    assert decoded.occurred_at.tzinfo is UTC


def test_payload_with_invalid_utf8_is_rejected(single_object_codec: MutationCodec) -> None:
    good = single_object(raw_record(payload='{"a":"xx"}'))
    bad = good.replace(b'"xx"', b'"\xff\xfe"')

    assert len(bad) == len(good)
    assert decode_reason(single_object_codec, bad) == "payload-json"


@pytest.mark.parametrize(
    "overrides",
    [{"entity_type": ""}, {"entity_uuid": ""}, {"entity_type": "x" * 256}],
)
def test_record_that_breaks_the_model_is_invalid_mutation(
    single_object_codec: MutationCodec, overrides: dict[str, Any]
) -> None:
    data = single_object(raw_record(**overrides))

    assert decode_reason(single_object_codec, data) == "invalid-mutation"


def test_invalid_mutation_message_does_not_echo_the_value(
    single_object_codec: MutationCodec,
) -> None:
    data = single_object(raw_record(entity_type="s3cr3t-token-" + "x" * 300))

    with pytest.raises(CodecError) as caught:
        single_object_codec.decode(data)
    assert "s3cr3t" not in str(caught.value)


# -- encoding failures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [{"price": Decimal("1.10")}, {"nested": {1: "non-string key"}}, {"text": "\ud800"}],
)
def test_payload_that_is_not_json_fails_to_encode_with_payload_json(
    single_object_codec: MutationCodec, payload: dict[str, Any]
) -> None:
    mutation = MutationData(
        entity_type="product", entity_uuid="u", operation="created", payload=payload
    )

    with pytest.raises(CodecError) as caught:
        single_object_codec.encode(mutation)
    assert caught.value.reason == "payload-json"


# -- a registry that cannot answer is transient, one that refuses is permanent -------------


def test_registry_outage_on_decode_is_transient_not_a_codec_error(
    registry_stub: RegistryStub,
) -> None:
    registry_stub.routes["GET", "/schemas/ids/7"] = (503, {"error_code": 50301, "message": "down"})
    codec = MutationCodec(schema_registry_client=registry_stub.client())

    with pytest.raises(SchemaRegistryUnavailableError):
        codec.decode(confluent_header(7) + avro_body(raw_record()))


def test_unreachable_registry_on_decode_is_transient(
    unreachable_registry: SchemaRegistryClient,
) -> None:
    codec = MutationCodec(schema_registry_client=unreachable_registry)

    with pytest.raises(SchemaRegistryUnavailableError):
        codec.decode(confluent_header(7) + avro_body(raw_record()))


def test_schema_fetched_over_http_is_cached_by_id(registry_stub: RegistryStub) -> None:
    registry_stub.routes["GET", "/schemas/ids/7"] = (200, {"schema": schema_text("mutation_data")})
    codec = MutationCodec(schema_registry_client=registry_stub.client())
    data = confluent_header(7) + avro_body(raw_record())

    first, second = codec.decode(data), codec.decode(data)

    assert first == second
    assert first.entity_uuid == "u-1"
    assert registry_stub.calls["GET", "/schemas/ids/7"] == 1


def test_registry_refusing_the_schema_is_incompatible_schema(registry_stub: RegistryStub) -> None:
    registry_stub.routes["POST", "/subjects/iec.mutations.product-value/versions"] = (
        409,
        {"error_code": 409, "message": "Schema being registered is incompatible"},
    )
    codec = MutationCodec(framing=Framing.CONFLUENT, schema_registry_client=registry_stub.client())

    with pytest.raises(CodecError) as caught:
        codec.encode(product())
    assert caught.value.reason == "incompatible-schema"


@pytest.mark.parametrize("status", [401, 403])
def test_registry_refusing_the_credentials_is_a_configuration_error(
    registry_stub: RegistryStub, status: int
) -> None:
    registry_stub.routes["GET", "/schemas/ids/7"] = (
        status,
        {"error_code": status, "message": "Unauthorized"},
    )
    codec = MutationCodec(schema_registry_client=registry_stub.client())

    with pytest.raises(ConfigurationError, match=f"HTTP {status}"):
        codec.decode(confluent_header(7) + avro_body(raw_record()))


def test_unreachable_registry_on_encode_is_transient(
    unreachable_registry: SchemaRegistryClient,
) -> None:
    codec = MutationCodec(framing=Framing.CONFLUENT, schema_registry_client=unreachable_registry)

    with pytest.raises(SchemaRegistryUnavailableError):
        codec.encode(product())


# -- the payload is parsed when first read ---------------------------------------------------


def test_the_payload_is_parsed_only_when_first_read(single_object_codec: MutationCodec) -> None:
    original = product()
    decoded = single_object_codec.decode(single_object_codec.encode(original))
    stored = decoded.__dict__
    assert isinstance(stored["payload"], JsonPayload)  # still text
    assert decoded == original  # equality, repr, dumps see the parsed payload
    assert decoded.payload == original.payload
    assert type(decoded.payload) is FrozenDict
    kept: object = stored["payload"]
    assert kept is decoded.payload  # parsed once, then kept


def test_a_lazy_payload_serialises_copies_and_pickles_like_a_parsed_one(
    single_object_codec: MutationCodec,
) -> None:
    original = product()
    data = single_object_codec.encode(original)
    assert single_object_codec.decode(data).model_dump() == original.model_dump()
    assert single_object_codec.decode(data).model_dump_json() == original.model_dump_json()
    assert repr(single_object_codec.decode(data)) == repr(original)
    assert dict(single_object_codec.decode(data)) == dict(original)
    assert pickle.loads(pickle.dumps(single_object_codec.decode(data))) == original
    assert copy.deepcopy(single_object_codec.decode(data)).payload == original.payload


def test_a_malformed_object_payload_fails_when_first_read(
    single_object_codec: MutationCodec,
) -> None:
    decoded = single_object_codec.decode(single_object(raw_record(payload='{"sku": }')))
    with pytest.raises(CodecError) as caught:
        _ = decoded.payload
    assert caught.value.reason == "payload-json"
