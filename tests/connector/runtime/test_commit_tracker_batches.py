"""`CommitTracker.finish_many` and `generations`: the batch forms the runner uses per batch."""

from connector.runtime.commit_tracker import CommitPoint, CommitTracker, TopicPartitionKey

P0 = ("iec.mutations.product", 0)
P1 = ("iec.mutations.product", 1)


def positions(points: dict[TopicPartitionKey, CommitPoint]) -> dict[TopicPartitionKey, int]:
    return {tp: point.offset for tp, point in points.items()}


def test_finishing_a_batch_across_partitions_advances_each_to_its_first_unfinished() -> None:
    tracker = CommitTracker()
    gen = tracker.assign([P0, P1])
    for offset in (10, 11, 12):
        tracker.receive(P0, offset)
    for offset in (5, 6):
        tracker.receive(P1, offset)

    counted = tracker.finish_many([(P0, 10, gen), (P1, 5, gen), (P0, 12, gen), (P1, 6, gen)])

    assert counted == 4
    assert positions(tracker.committable()) == {P0: 11, P1: 7}


def test_records_of_a_stale_generation_in_a_batch_are_ignored_and_the_rest_count() -> None:
    tracker = CommitTracker()
    old = tracker.assign([P0, P1])
    tracker.receive(P0, 1)
    tracker.receive(P1, 1)
    tracker.revoke([P1])
    new = tracker.assign([P1])
    tracker.receive(P1, 1)

    counted = tracker.finish_many([(P0, 1, old), (P1, 1, old)])

    assert counted == 1
    assert positions(tracker.committable()) == {P0: 2}
    assert tracker.generations() == {P0: old, P1: new}
