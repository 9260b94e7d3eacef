"""Garbage in, `CodecError` out: random bytes, truncations and bit flips never escape otherwise."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mutation_strategies import mutations, product

from connector.codec import CodecError, MutationCodec
from contracts import MutationData

REUSABLE_FIXTURES = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300
)
HEADERS = st.sampled_from([b"", b"\x00\x00\x00\x00\x01", b"\x00", b"\xc3\x01"])


def decodes_or_raises_codec_error(codec: MutationCodec, data: bytes) -> None:
    outcome: MutationData | CodecError
    try:
        outcome = codec.decode(data)
    except CodecError as exc:  # any other exception fails the test
        outcome = exc
    assert isinstance(outcome, MutationData) or outcome.reason


@REUSABLE_FIXTURES
@given(data=st.binary(max_size=300))
@example(data=b"\x00\x00\x00\x00\x01" + b"\xff" * 12)
def test_random_bytes_only_raise_codec_error(confluent_codec: MutationCodec, data: bytes) -> None:
    decodes_or_raises_codec_error(confluent_codec, data)


@REUSABLE_FIXTURES
@given(header_kind=st.sampled_from(["current", "registered"]), body=st.binary(max_size=300))
def test_random_bodies_behind_valid_headers_only_raise_codec_error(
    confluent_codec: MutationCodec, header_kind: str, body: bytes
) -> None:
    valid = confluent_codec.encode(product())
    header = MutationCodec().encode(product())[:10] if header_kind == "current" else valid[:5]

    decodes_or_raises_codec_error(confluent_codec, header + body)


@REUSABLE_FIXTURES
@given(mutation=mutations(), framing=st.sampled_from(["single-object", "registry"]))
def test_every_truncation_of_a_valid_record_raises_codec_error(
    single_object_codec: MutationCodec,
    confluent_codec: MutationCodec,
    mutation: MutationData,
    framing: str,
) -> None:
    codec = single_object_codec if framing == "single-object" else confluent_codec
    data = codec.encode(mutation)

    for length in range(len(data)):
        try:
            confluent_codec.decode(data[:length])
        except CodecError:
            continue
        raise AssertionError(f"a {length}-byte prefix of a {len(data)}-byte record decoded")


@REUSABLE_FIXTURES
@given(
    mutation=mutations(),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), max_size=4),
)
def test_corrupted_records_decode_or_raise_codec_error(
    confluent_codec: MutationCodec, mutation: MutationData, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(MutationCodec().encode(mutation))
    for position, mask in flips:
        data[position % len(data)] ^= mask

    decodes_or_raises_codec_error(confluent_codec, bytes(data))
