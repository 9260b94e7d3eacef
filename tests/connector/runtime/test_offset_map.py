"""The offset map in commit metadata: round trips, size bound, foreign metadata."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from connector.runtime import offset_map


def test_runs_of_finished_offsets_round_trip() -> None:
    done = {101, 102, 103, 110, 200, 201}
    text = offset_map.encode(100, done)
    assert text.startswith("iec1:")
    assert offset_map.decode(100, text) == done


def test_nothing_finished_above_the_position_is_no_metadata() -> None:
    assert offset_map.encode(100, []) == ""
    assert offset_map.encode(100, [50, 100]) == ""  # at or below the position: committed
    assert offset_map.decode(100, "") == set()


def test_too_many_runs_keep_the_earliest_that_fit() -> None:
    noise = random.Random(3)
    done: set[int] = set()
    offset = 0
    for _ in range(20_000):  # irregular runs: they do not compress into 3.8 KB
        offset += noise.randint(2, 500)
        done.update(range(offset, offset + noise.randint(1, 5)))
        offset += 5
    text = offset_map.encode(0, done)
    assert 0 < len(text) <= offset_map.MAX_CHARS
    kept = offset_map.decode(0, text)
    assert kept
    assert kept < done
    last = max(kept)
    assert kept == {o for o in done if o <= last}  # a prefix: nothing skipped wrongly


def test_foreign_or_broken_metadata_means_nothing_known() -> None:
    for text in ("written by another tool", "iec1:not-base64!", "iec1:", "iec2:abc"):
        assert offset_map.decode(7, text) == set()


@given(
    position=st.integers(min_value=0, max_value=2**40),
    gaps=st.lists(st.integers(min_value=1, max_value=5000), max_size=300),
)
def test_any_set_of_offsets_above_the_position_round_trips(position: int, gaps: list[int]) -> None:
    done: set[int] = set()
    offset = position
    for gap in gaps:
        offset += gap
        done.add(offset)
    text = offset_map.encode(position, done, max_chars=1_000_000)
    assert offset_map.decode(position, text) == done
