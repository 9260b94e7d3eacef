"""The two framings of an Avro record value, parsed and built without I/O.

* Confluent Schema Registry: ``0x00`` + 4-byte big-endian schema id + Avro body.
* Avro single-object encoding: ``0xC3 0x01`` + 8-byte little-endian CRC-64-AVRO fingerprint
  of the writer schema + Avro body (Avro specification, "Single-object encoding").
"""

from __future__ import annotations

import enum
import struct

from connector.codec.errors import CodecError

__all__ = [
    "CONFLUENT_MAGIC",
    "SINGLE_OBJECT_MAGIC",
    "Framing",
    "confluent_header",
    "parse_header",
    "single_object_header",
]

CONFLUENT_MAGIC = b"\x00"
SINGLE_OBJECT_MAGIC = b"\xc3\x01"
_CONFLUENT_HEADER = struct.Struct(">bI")
_SINGLE_OBJECT_LEN = 10


class Framing(enum.Enum):
    CONFLUENT = "confluent"
    SINGLE_OBJECT = "single-object"


def confluent_header(schema_id: int) -> bytes:
    return _CONFLUENT_HEADER.pack(0, schema_id)


def single_object_header(fingerprint: bytes) -> bytes:
    """`fingerprint` is the 8-byte little-endian CRC-64-AVRO of the writer schema."""
    if len(fingerprint) != 8:
        raise ValueError("a CRC-64-AVRO fingerprint has 8 bytes")
    return SINGLE_OBJECT_MAGIC + fingerprint


def parse_header(data: bytes) -> tuple[Framing, int | bytes, int]:
    """Detect the framing from the first bytes.

    Returns (framing, schema id or fingerprint, offset of the Avro body). Raises `CodecError`
    for anything else, including empty and truncated input.
    """
    if not data:
        raise CodecError("empty", "the record value is empty")
    first = data[0]
    if first == 0:
        if len(data) < 5:
            raise CodecError(
                "truncated-header", f"schema-registry header needs 5 bytes, got {len(data)}"
            )
        return Framing.CONFLUENT, _CONFLUENT_HEADER.unpack_from(data)[1], 5
    if first == 0xC3 and len(data) >= 2 and data[1] == 0x01:
        if len(data) < _SINGLE_OBJECT_LEN:
            raise CodecError(
                "truncated-header", f"single-object header needs 10 bytes, got {len(data)}"
            )
        return Framing.SINGLE_OBJECT, bytes(data[2:_SINGLE_OBJECT_LEN]), _SINGLE_OBJECT_LEN
    raise CodecError(
        "unknown-framing",
        f"value starts with 0x{bytes(data[:2]).hex()}, neither schema-registry (0x00) "
        "nor Avro single-object (0xc301) framing",
    )
