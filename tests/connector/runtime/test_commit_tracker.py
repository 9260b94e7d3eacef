from connector.runtime.commit_tracker import (
    ALREADY_DONE,
    CommitPoint,
    CommitTracker,
    TopicPartitionKey,
)

TP = ("iec.mutations.product", 0)


def positions(points: dict[TopicPartitionKey, CommitPoint]) -> dict[TopicPartitionKey, int]:
    return {tp: point.offset for tp, point in points.items()}


def _tracker_with(offsets: list[int]) -> tuple[CommitTracker, int]:
    tracker = CommitTracker()
    generation = tracker.assign([TP])
    for offset in offsets:
        assert tracker.receive(TP, offset) == generation
    return tracker, generation


def test_nothing_is_committable_before_anything_finishes() -> None:
    tracker, _ = _tracker_with([10, 11, 12])
    assert positions(tracker.committable()) == {}


def test_commit_position_stops_at_the_first_unfinished_record() -> None:
    tracker, gen = _tracker_with([10, 11, 14, 15, 16])
    tracker.finish(TP, 10, gen)
    tracker.finish(TP, 11, gen)
    tracker.finish(TP, 15, gen)
    assert positions(tracker.committable()) == {TP: 14}
    tracker.finish(TP, 14, gen)
    assert positions(tracker.committable()) == {TP: 16}


def test_all_finished_commits_one_past_the_last_received_offset_across_gaps() -> None:
    tracker, gen = _tracker_with([3, 7, 20])
    for offset in (20, 3, 7):
        tracker.finish(TP, offset, gen)
    assert positions(tracker.committable()) == {TP: 21}


def test_committed_positions_are_not_reported_again() -> None:
    tracker, gen = _tracker_with([1, 2])
    tracker.finish(TP, 1, gen)
    tracker.mark_committed(tracker.committable())
    assert positions(tracker.committable()) == {}
    tracker.finish(TP, 2, gen)
    assert positions(tracker.committable()) == {TP: 3}


def test_finish_from_a_revoked_generation_is_ignored_after_reassignment() -> None:
    tracker, old = _tracker_with([5, 6])
    tracker.revoke([TP])
    new = tracker.assign([TP])
    tracker.receive(TP, 5)
    assert tracker.finish(TP, 5, old) is False
    assert positions(tracker.committable()) == {}
    assert tracker.finish(TP, 5, new) is True
    assert positions(tracker.committable()) == {TP: 6}


def test_records_of_unassigned_partitions_are_not_tracked() -> None:
    tracker = CommitTracker()
    assert tracker.receive(TP, 1) is None
    assert tracker.finish(TP, 1, 1) is False
    assert positions(tracker.committable()) == {}


def test_refetch_after_seek_replaces_the_superseded_entries() -> None:
    tracker, gen = _tracker_with([1, 2, 3])
    tracker.finish(TP, 1, gen)
    tracker.receive(TP, 2)  # seek back to 2: 2 and 3 arrive again
    tracker.receive(TP, 3)
    assert tracker.in_flight(TP) == 2
    tracker.finish(TP, 2, gen)
    tracker.finish(TP, 3, gen)
    assert positions(tracker.committable()) == {TP: 4}


def test_committable_can_be_limited_to_some_partitions() -> None:
    other = ("iec.mutations.product", 1)
    tracker = CommitTracker()
    gen = tracker.assign([TP, other])
    tracker.receive(TP, 0)
    tracker.receive(other, 0)
    tracker.finish(TP, 0, gen)
    tracker.finish(other, 0, gen)
    assert positions(tracker.committable([other])) == {other: 1}


def test_the_commit_point_names_what_finished_above_the_position() -> None:
    tracker, gen = _tracker_with([10, 11, 14, 15, 16])
    tracker.finish_many([(TP, 11, gen), (TP, 15, gen), (TP, 16, gen)])
    point = tracker.committable()[TP]
    assert (point.offset, point.done) == (10, frozenset({11, 15, 16}))
    tracker.mark_committed({TP: point})
    assert tracker.committable() == {}
    assert tracker.positions()[TP] == point  # a synchronous commit sends it again
    tracker.finish(TP, 10, gen)
    assert positions(tracker.committable()) == {TP: 14}


def test_a_failed_commit_is_committable_again() -> None:
    tracker, gen = _tracker_with([1, 2])
    tracker.finish(TP, 1, gen)
    sent = tracker.committable()
    tracker.mark_committed(sent)
    tracker.forget_committed(sent)
    assert tracker.committable() == sent


def test_records_the_previous_owner_finished_are_skipped_and_count_as_done() -> None:
    tracker = CommitTracker()
    gen = tracker.assign([TP], done={TP: {12, 13}})
    assert tracker.receive(TP, 11) == gen
    assert tracker.receive(TP, 12) == ALREADY_DONE
    assert tracker.receive(TP, 13) == ALREADY_DONE
    assert tracker.receive(TP, 14) == gen
    assert positions(tracker.committable()) == {TP: 11}
    tracker.finish(TP, 11, gen)
    assert positions(tracker.committable()) == {TP: 14}
