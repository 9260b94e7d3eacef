"""The one error the codec raises for bytes it cannot turn into a record."""

from __future__ import annotations

from contracts.errors import PermanentError

__all__ = ["CodecError"]


class CodecError(PermanentError):
    """Bytes that are not a decodable record. `reason` is a short, stable machine-readable tag
    (``empty``, ``unknown-framing``, ``truncated-header``, ``unknown-schema-id``,
    ``unknown-fingerprint``, ``avro``, ``payload-json``, ``invalid-mutation``, ``trailing-bytes``);
    the message explains it for a person."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
