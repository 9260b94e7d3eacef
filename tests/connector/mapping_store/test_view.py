"""The in-memory view and its ordering rule (no Kafka: records are plain values)."""

from __future__ import annotations

from dataclasses import dataclass

from connector.mapping_store.record import MappingRecord, encode_record
from connector.mapping_store.view import MappingView


@dataclass(frozen=True)
class Rec:
    """A consumed record as the view reads it (the shape of `confluent_kafka.Message`)."""

    k: bytes | None
    v: bytes | None
    o: int
    p: int = 0
    err: object | None = None

    def error(self) -> object | None:
        return self.err

    def key(self) -> bytes | None:
        return self.k

    def value(self) -> bytes | None:
        return self.v

    def partition(self) -> int:
        return self.p

    def offset(self) -> int:
        return self.o


def val(external_id: str) -> bytes:
    return encode_record(MappingRecord(external_id, None, 1, 1))


K = b"product:1"


def test_tail_applies_records_in_order_and_a_tombstone_deletes() -> None:
    view = MappingView()
    result = view.apply_log(
        [Rec(K, val("a"), 0), Rec(b"category:9", val("c"), 1), Rec(K, val("b"), 2)]
    )
    assert result.applied == 3
    assert view.get(K) == val("b")
    view.apply_log([Rec(K, None, 3)])
    assert view.get(K) is None
    assert len(view) == 1
    assert view.positions() == {0: 4}


def test_own_write_is_visible_at_once_and_an_older_record_from_the_tail_does_not_replace_it() -> (
    None
):
    view = MappingView()
    view.apply_log([Rec(K, val("old"), 0)])
    assert view.apply_acked(K, val("mine"), partition=0, offset=5)
    assert view.get(K) == val("mine")
    # The tail now reads offsets 1..4, among them another older value of the key.
    view.apply_log([Rec(b"x:1", val("x"), 1), Rec(K, val("older"), 3)])
    assert view.get(K) == val("mine")
    assert view.pending_count() == 1


def test_tail_reaching_the_own_write_clears_the_mark_and_later_records_win() -> None:
    view = MappingView()
    view.apply_acked(K, val("mine"), partition=0, offset=5)
    view.apply_log([Rec(K, val("mine"), 5)])
    assert view.pending_count() == 0
    view.apply_log([Rec(K, val("theirs"), 6)])
    assert view.get(K) == val("theirs")


def test_own_write_the_tail_already_passed_is_not_applied_over_a_newer_value() -> None:
    view = MappingView()
    # The tail has read our write (offset 5) and another instance's later one (offset 6)
    # before our acknowledgement was processed.
    view.apply_log([Rec(K, val("mine"), 5), Rec(K, val("theirs"), 6)])
    assert not view.apply_acked(K, val("mine"), partition=0, offset=5)
    assert view.get(K) == val("theirs")
    assert view.pending_count() == 0


def test_own_delete_hides_the_mapping_until_the_tail_brings_a_later_write() -> None:
    view = MappingView()
    view.apply_log([Rec(K, val("a"), 0)])
    view.apply_acked(K, None, partition=0, offset=3)
    view.apply_log([Rec(K, val("b"), 2)])
    assert view.get(K) is None
    view.apply_log([Rec(K, None, 3), Rec(K, val("c"), 4)])
    assert view.get(K) == val("c")


def test_two_own_writes_of_one_key_acknowledged_out_of_order_keep_the_later_one() -> None:
    view = MappingView()
    assert view.apply_acked(K, val("second"), partition=0, offset=8)
    assert not view.apply_acked(K, val("first"), partition=0, offset=7)
    assert view.get(K) == val("second")


def test_records_on_another_partition_are_not_ordered_against_the_mark() -> None:
    view = MappingView()
    view.apply_acked(K, val("mine"), partition=0, offset=5)
    view.apply_log([Rec(K, val("elsewhere"), 1, p=1)])
    assert view.get(K) == val("elsewhere")


def test_records_that_are_not_mappings_are_skipped_counted_and_keep_the_previous_value() -> None:
    view = MappingView()
    view.apply_log([Rec(K, val("a"), 0)])
    result = view.apply_log(
        [
            Rec(K, b"not avro", 1),
            Rec(None, val("b"), 2),
            Rec(b"nocolon", val("c"), 3),
            Rec(b"y:1", val("y"), 4),
        ]
    )
    assert [(p, o) for p, o, _reason in result.rejected] == [(0, 1), (0, 2), (0, 3)]
    assert result.applied == 1
    assert view.get(K) == val("a")
    assert view.rejected_total == 3
    assert view.positions() == {0: 5}


def test_error_events_are_handed_back_untouched() -> None:
    view = MappingView()
    event = Rec(None, None, 10, err="end of partition")
    result = view.apply_log([Rec(K, val("a"), 9), event])
    assert result.events == [event]
    assert view.positions() == {0: 10}


def test_snapshot_is_a_copy() -> None:
    view = MappingView()
    view.apply_log([Rec(K, val("a"), 0)])
    snapshot = view.snapshot()
    view.apply_log([Rec(K, None, 1)])
    assert snapshot == {K: val("a")}
    assert view.get(K) is None
