"""From a consumed record to a `MutationData`, with the checks the wire format alone can't make."""

from __future__ import annotations

from collections.abc import Callable

from connector.codec.errors import CodecError
from connector.kafka.records import ConsumedRecord
from contracts import MutationData

__all__ = ["decode_record"]


def decode_record(record: ConsumedRecord, decode: Callable[[bytes], MutationData]) -> MutationData:
    """Decode `record.value` and check it against the record's key and topic.

    Raises `CodecError` (reasons ``tombstone``, ``key-mismatch``, ``entity-type-mismatch`` or
    the codec's own), or a transient error when the schema registry can't be reached.
    """
    if record.value is None:
        raise CodecError("tombstone", "a null value (tombstone) is not a mutation")
    mutation = decode(record.value)
    key = record.key
    if key is None:
        raise CodecError("key-mismatch", "the record has no key; it must be the entity_uuid")
    if key.decode("utf-8", "replace") != mutation.entity_uuid:
        raise CodecError(
            "key-mismatch",
            f"the record key must be the entity_uuid (key {key[:64]!r}, "
            f"entity_uuid {mutation.entity_uuid[:64]!r})",
        )
    if record.entity_type and mutation.entity_type != record.entity_type:
        raise CodecError(
            "entity-type-mismatch",
            f"entity_type {mutation.entity_type[:64]!r} on the topic of {record.entity_type!r}",
        )
    return mutation
