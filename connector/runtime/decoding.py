"""From a consumed record to a `MutationData`, with the checks the wire format alone can't make."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from connector.codec.errors import CodecError
from connector.kafka.records import ConsumedRecord
from contracts import MutationData, TransientError

__all__ = ["RecordDecoder", "decode_record"]

_REGISTRY_BACKOFF_S = 5.0
"""After the schema registry failed, how long decodes that need it are deferred."""


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


class RecordDecoder:
    """Sets `record.mutation`, or `record.error` when the value is not (yet) a mutation.

    A transient failure (the schema registry is unreachable) is remembered for a few seconds:
    meanwhile values that need the registry are not sent to it from the event loop (each
    call would block it for the registry timeout) but marked transient at once; `retry`
    tries one again off the loop.
    """

    def __init__(
        self,
        decode: Callable[[bytes], MutationData],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._decode = decode
        self._clock = clock
        self._registry_down_until = 0.0

    def decode_into(self, record: ConsumedRecord) -> None:
        """Decode on the calling thread (the event loop): the fast path."""
        value = record.value
        if value and value[0] == 0 and self._clock() < self._registry_down_until:
            record.error = TransientError("schema registry unavailable; decode deferred")
            return
        self._decode_now(record)

    async def retry(self, record: ConsumedRecord) -> bool:
        """Decode again, off the event loop (the registry client blocks while it waits);
        True if the record is decoded now."""
        await asyncio.to_thread(self._decode_now, record)
        return record.mutation is not None

    def _decode_now(self, record: ConsumedRecord) -> None:
        try:
            record.mutation = decode_record(record, self._decode)
            record.error = None
        except (CodecError, TransientError) as exc:
            if isinstance(exc, TransientError):
                self._registry_down_until = self._clock() + _REGISTRY_BACKOFF_S
            record.error = exc
