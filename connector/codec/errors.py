"""The errors the codec raises: one for undecodable bytes, one for an unreachable registry."""

from __future__ import annotations

from contracts.errors import PermanentError, TransientError

__all__ = ["CodecError", "SchemaRegistryUnavailableError"]


class CodecError(PermanentError):
    """Bytes that are not a decodable record. `reason` is a short, stable machine-readable tag
    (``empty``, ``unknown-framing``, ``truncated-header``, ``unknown-schema-id``,
    ``unknown-fingerprint``, ``incompatible-schema``, ``avro``, ``payload-json``,
    ``invalid-mutation``, ``trailing-bytes``; the runtime's decoding adds ``tombstone``,
    ``key-mismatch`` and ``entity-type-mismatch``); the message explains it for a person."""

    max_message_chars = 500
    """Messages are cut to this length: they travel in dead-letter headers and logs."""

    def __init__(self, reason: str, message: str):
        text = f"{reason}: {message}"
        if len(text) > self.max_message_chars:
            text = text[: self.max_message_chars - 1] + "…"
        super().__init__(text)
        self.reason = reason


class SchemaRegistryUnavailableError(TransientError):
    """The schema registry could not answer (network, 5xx, auth): retry, don't dead-letter.

    Not a `CodecError`: the record may be fine, only the registry lookup failed.
    """
