"""KeyScheduler without Kafka: key order, limits, linger, retries that block only their key."""

from __future__ import annotations

from connector.kafka.records import ConsumedRecord
from connector.runtime.runner import ordering_key
from connector.runtime.scheduling import KeyScheduler, RetryGroup, Work


def rec(
    key: str,
    offset: int,
    *,
    entity_type: str = "product",
    size: int = 10,
    partition: int = 0,
) -> ConsumedRecord:
    return ConsumedRecord(
        topic=f"t.{entity_type}",
        partition=partition,
        offset=offset,
        key=key.encode(),
        value=b"x" * size,
        headers=None,
        timestamp_ms=0,
        entity_type=entity_type,
    )


def scheduler(**overrides: object) -> KeyScheduler:
    options: dict[str, object] = {
        "max_records": 100,
        "max_bytes": 1_000_000,
        "linger_s": 10.0,
        "key_of": ordering_key("key"),
    }
    options.update(overrides)
    return KeyScheduler(**options)  # type: ignore[arg-type]


def offsets(work: Work | None) -> list[int]:
    assert work is not None
    return [r.offset for r in work.records]


def test_a_key_is_never_in_two_works_and_its_records_stay_in_offset_order() -> None:
    s = scheduler(linger_s=0.0)
    for offset, key in enumerate(["a", "b", "a", "c"]):
        s.add(rec(key, offset), now=0)
    first = s.take(now=0)
    # every ready key, each with all its records in offset order
    assert offsets(first) == [0, 2, 1, 3]
    assert first is not None
    assert first.keys == [b"a", b"b", b"c"]
    s.add(rec("a", 4), now=1)
    s.add(rec("d", 5), now=1)
    # "a" is busy: only "d" may go
    assert offsets(s.take(now=1)) == [5]
    assert s.take(now=1) is None
    s.complete(first, now=2)
    assert offsets(s.take(now=2)) == [4]
    assert s.queued_records == 0


def test_works_keep_the_record_and_byte_limits() -> None:
    s = scheduler(max_records=3, max_bytes=25, linger_s=0.0)
    for offset in range(5):
        s.add(rec(f"k{offset}", offset, size=10), now=0)
    assert offsets(s.take(now=0)) == [0, 1]  # a third would exceed 25 bytes
    assert offsets(s.take(now=0)) == [2, 3]
    big = scheduler(max_records=3, max_bytes=25, linger_s=0.0)
    big.add(rec("huge", 0, size=100), now=0)
    big.add(rec("small", 1), now=0)
    assert offsets(big.take(now=0)) == [0]  # a larger record forms a work of its own
    counted = scheduler(max_records=3, linger_s=0.0)
    for offset in range(7):
        counted.add(rec("same", offset), now=0)
    assert offsets(counted.take(now=0)) == [0, 1, 2]


def test_works_are_of_one_entity_type() -> None:
    s = scheduler(linger_s=0.0)
    s.add(rec("p", 0, entity_type="product"), now=0)
    s.add(rec("c", 1, entity_type="category"), now=0)
    s.add(rec("p2", 2, entity_type="product"), now=0)
    first = s.take(now=0)
    second = s.take(now=0)
    assert first is not None
    assert second is not None
    assert (first.entity_type, offsets(first)) == ("product", [0, 2])
    assert (second.entity_type, offsets(second)) == ("category", [1])


def test_a_partial_work_lingers_unless_the_fetch_ran_dry() -> None:
    s = scheduler(max_records=10, linger_s=0.2)
    s.add(rec("a", 0), now=0.0)
    assert s.take(now=0.1) is None
    assert s.next_deadline() == 0.2
    assert offsets(s.take(now=0.2)) == [0]
    s.add(rec("b", 1), now=1.0)
    s.flush_partial(True)
    assert s.next_deadline() == 0.0
    assert offsets(s.take(now=1.0)) == [1]


def test_a_full_work_goes_at_once() -> None:
    s = scheduler(max_records=2, linger_s=60)
    s.add(rec("a", 0), now=0)
    assert s.take(now=0) is None
    s.add(rec("b", 1), now=0)
    assert offsets(s.take(now=0)) == [0, 1]


def test_a_retried_key_waits_for_its_backoff_while_others_go_on() -> None:
    s = scheduler(linger_s=0.0)
    s.add(rec("bad", 0), now=0)
    s.add(rec("good", 1), now=0)
    work = s.take(now=0)
    assert work is not None
    failed = work.records[0]
    s.complete(work, [RetryGroup([failed], not_before=5.0)], now=1)
    assert s.blocked_keys == 1
    s.add(rec("bad", 2), now=2)  # behind the parked record
    s.add(rec("other", 3), now=2)
    assert offsets(s.take(now=2)) == [3]
    assert s.take(now=4.9) is None
    assert s.next_deadline() == 5.0
    retry = s.take(now=5.0)
    assert offsets(retry) == [0, 2]  # the parked record first, then its key's later one
    assert retry is not None
    assert retry.retry
    assert s.blocked_keys == 0


def test_retry_groups_are_never_batched_with_fresh_keys() -> None:
    s = scheduler(linger_s=0.0)
    for offset, key in enumerate(["a", "b"]):
        s.add(rec(key, offset), now=0)
    work = s.take(now=0)
    assert work is not None
    s.complete(work, [RetryGroup(work.records, not_before=1.0)], now=0)
    s.add(rec("fresh", 2), now=1.0)
    first = s.take(now=1.0)
    second = s.take(now=1.0)
    assert first is not None
    assert second is not None
    assert sorted([offsets(first), offsets(second)]) == [[0, 1], [2]]
    # a group split in two runs as two works
    retry = first if first.retry else second
    s.complete(
        retry,
        [RetryGroup(retry.records[:1], not_before=2.0), RetryGroup(retry.records[1:], 2.0)],
        now=1.5,
    )
    assert offsets(s.take(now=2.0)) == [0]
    assert offsets(s.take(now=2.0)) == [1]


def test_one_key_per_work_for_drivers_that_handle_one_record_at_a_time() -> None:
    s = scheduler(one_key_per_work=True, linger_s=60)
    for offset, key in enumerate(["a", "b", "a"]):
        s.add(rec(key, offset), now=0)
    assert offsets(s.take(now=0)) == [0, 2]  # no linger: a single record is never batched
    assert offsets(s.take(now=0)) == [1]


def test_partition_ordering_keeps_a_partition_in_one_work_at_a_time() -> None:
    s = scheduler(linger_s=0.0, key_of=ordering_key("partition"), max_records=2)
    for offset in range(3):
        s.add(rec(f"k{offset}", offset, partition=0), now=0)
    s.add(rec("x", 0, partition=1), now=0)
    first = s.take(now=0)
    assert offsets(first) == [0, 1]
    assert offsets(s.take(now=0)) == [0]  # partition 1
    assert s.take(now=0) is None  # partition 0 is busy
    assert first is not None
    s.complete(first, now=1)
    assert offsets(s.take(now=1)) == [2]


def test_revoked_partitions_are_dropped_and_the_counters_follow() -> None:
    s = scheduler(linger_s=0.0)
    s.add(rec("a", 0, partition=0), now=0)
    s.add(rec("b", 0, partition=1, size=30), now=0)
    s.add(rec("a", 1, partition=0), now=0)
    assert (s.queued_records, s.queued_bytes) == (3, 50)
    assert s.drop_partitions([("t.product", 0)]) == 2
    assert (s.queued_records, s.queued_bytes) == (1, 30)
    assert offsets(s.take(now=0)) == [0]
    assert s.clear() == 0


def test_clear_drops_everything_but_keeps_busy_keys_until_complete() -> None:
    s = scheduler(linger_s=0.0)
    s.add(rec("a", 0), now=0)
    work = s.take(now=0)
    s.add(rec("a", 1), now=0)
    s.add(rec("b", 2), now=0)
    assert s.clear() == 2
    assert s.queued_records == 0
    assert s.take(now=0) is None
    assert work is not None
    s.complete(work, now=1)
    assert s.busy_keys == 0
