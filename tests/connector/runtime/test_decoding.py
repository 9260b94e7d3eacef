import pytest

from connector.codec import CodecError, MutationCodec
from connector.kafka.records import ConsumedRecord
from connector.runtime.decoding import decode_record
from contracts import MutationData

CODEC = MutationCodec()
PRODUCT = MutationData(
    entity_type="product", entity_uuid="p-1", operation="created", payload={"a": 1}
)


def _record(
    value: bytes | None, key: bytes | None = b"p-1", entity_type: str = "product"
) -> ConsumedRecord:
    return ConsumedRecord(
        topic="t",
        partition=0,
        offset=0,
        key=key,
        value=value,
        headers=None,
        timestamp_ms=0,
        entity_type=entity_type,
    )


def test_a_record_whose_key_is_its_entity_uuid_decodes() -> None:
    assert decode_record(_record(CODEC.encode(PRODUCT)), CODEC.decode) == PRODUCT


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (_record(None), "tombstone"),
        (_record(CODEC.encode(PRODUCT), key=b"someone-else"), "key-mismatch"),
        (_record(CODEC.encode(PRODUCT), key=None), "key-mismatch"),
        (_record(CODEC.encode(PRODUCT), entity_type="category"), "entity-type-mismatch"),
        (_record(b""), "empty"),
    ],
)
def test_records_that_contradict_their_key_or_topic_raise_codec_error(
    record: ConsumedRecord, reason: str
) -> None:
    with pytest.raises(CodecError) as caught:
        decode_record(record, CODEC.decode)
    assert caught.value.reason == reason


def test_a_retry_topic_record_takes_its_entity_type_from_the_mutation() -> None:
    assert decode_record(_record(CODEC.encode(PRODUCT), entity_type=""), CODEC.decode) == PRODUCT
