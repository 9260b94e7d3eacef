"""The finished offsets above a committed position, as offset-commit metadata. Pure.

With key-ordered concurrency, records of a partition finish out of order: the committed
position stops at the first unfinished record while many later ones are done. Kafka keeps
a metadata string with every committed offset; this module packs those later finished
offsets into it, so that the partition's next owner (after a rebalance or a crash) skips
them instead of handling them again. Parallel Consumer does the same with its "offset map".

Format: ``iec1:`` + URL-safe base64 of zlib-compressed varints: pairs (gap, length) of runs
of finished offsets, the first gap counted from the committed position, each later one from
the end of the previous run. The broker refuses metadata above `offset.metadata.max.bytes`
(4096 by default), so an encoding that would be longer than `max_chars` keeps only the
earliest runs: anything left out is handled again, which at-least-once allows.
Anything that does not decode (another tool's metadata, a newer format) means "nothing
known": the records are handled again.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import itertools
import zlib
from collections.abc import Iterable

__all__ = ["MAX_CHARS", "decode", "encode"]

PREFIX = "iec1:"
MAX_CHARS = 3800
"""Below the broker's default `offset.metadata.max.bytes` (4096), with room to spare."""
_MAX_DECODED_OFFSETS = 1_000_000


def _runs(position: int, done: Iterable[int]) -> list[tuple[int, int]]:
    """(start, length) of each run of consecutive offsets above `position`, in order."""
    offsets = sorted(done)
    offsets = offsets[bisect.bisect_right(offsets, position) :]
    if not offsets:
        return []
    # A run breaks where the next offset is not one more (comprehensions: this runs at every
    # commit over thousands of offsets).
    pairs = list(itertools.pairwise(offsets))
    starts = [offsets[0], *(b for a, b in pairs if b != a + 1)]
    ends = [*(a for a, b in pairs if b != a + 1), offsets[-1]]
    return [(start, end - start + 1) for start, end in zip(starts, ends, strict=True)]


def _varint(value: int, out: bytearray) -> None:
    if value < 0x80:
        out.append(value)
        return
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _pack(position: int, runs: list[tuple[int, int]]) -> str:
    out = bytearray()
    end = position
    for start, length in runs:
        _varint(start - end, out)
        _varint(length, out)
        end = start + length
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(bytes(out), 6)).decode("ascii")


def encode(position: int, done: Iterable[int], max_chars: int = MAX_CHARS) -> str:
    """The metadata for a commit at `position` with `done` finished above it ("" if none)."""
    runs = _runs(position, done)
    if not runs:
        return ""
    text = _pack(position, runs)
    if len(text) <= max_chars:
        return text
    # Too long: keep the longest prefix of runs that fits (binary search on the count).
    low, high = 0, len(runs)
    while low < high:
        middle = (low + high + 1) // 2
        if len(_pack(position, runs[:middle])) <= max_chars:
            low = middle
        else:
            high = middle - 1
    return _pack(position, runs[:low]) if low else ""


def decode(position: int, metadata: str | None) -> set[int]:
    """The finished offsets above `position` that `metadata` names (empty if it names none)."""
    if not metadata or not metadata.startswith(PREFIX):
        return set()
    try:
        data = zlib.decompress(base64.urlsafe_b64decode(metadata[len(PREFIX) :]))
    except (binascii.Error, ValueError, zlib.error):
        return set()
    numbers: list[int] = []
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        numbers.append(value)
        value = shift = 0
    if shift or len(numbers) % 2:
        return set()
    offsets: set[int] = set()
    end = position
    for index in range(0, len(numbers), 2):
        gap, length = numbers[index], numbers[index + 1]
        start = end + gap
        if gap <= 0 or length <= 0:
            return set()  # runs start above the position and never touch or overlap
        if len(offsets) + length > _MAX_DECODED_OFFSETS:
            return set()
        offsets.update(range(start, start + length))
        end = start + length
    return offsets
