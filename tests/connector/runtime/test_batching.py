from connector.kafka.records import ConsumedRecord
from connector.runtime.batching import BatchAssembler


def _record(entity_type: str, offset: int, size: int = 10, partition: int = 0) -> ConsumedRecord:
    return ConsumedRecord(
        topic=f"t.{entity_type}",
        partition=partition,
        offset=offset,
        key=b"k",
        value=b"x" * size,
        headers=None,
        timestamp_ms=0,
        entity_type=entity_type,
    )


def test_batch_closes_at_max_records_and_keeps_fetch_order() -> None:
    assembler = BatchAssembler(max_records=3, max_bytes=10_000, linger_s=60)
    for offset in range(7):
        assembler.add(_record("product", offset), now=0)
    first = assembler.next_batch(now=0)
    second = assembler.next_batch(now=0)
    assert first is not None
    assert second is not None
    assert [r.offset for r in first.records] == [0, 1, 2]
    assert [r.offset for r in second.records] == [3, 4, 5]
    assert assembler.next_batch(now=0) is None
    assert assembler.buffered_records == 1


def test_batch_closes_before_exceeding_max_bytes() -> None:
    assembler = BatchAssembler(max_records=100, max_bytes=25, linger_s=60)
    for offset in range(3):
        assembler.add(_record("product", offset, size=10), now=0)
    batch = assembler.next_batch(now=0)
    assert batch is not None
    assert [r.offset for r in batch.records] == [0, 1]
    assert batch.size_bytes == 20


def test_an_oversize_record_forms_a_batch_of_its_own() -> None:
    assembler = BatchAssembler(max_records=100, max_bytes=25, linger_s=60)
    assembler.add(_record("product", 0, size=100), now=0)
    batch = assembler.next_batch(now=0)
    assert batch is not None
    assert len(batch) == 1


def test_partial_batch_is_handed_over_after_linger() -> None:
    assembler = BatchAssembler(max_records=100, max_bytes=10_000, linger_s=0.5)
    assembler.add(_record("category", 0), now=10.0)
    assert assembler.next_batch(now=10.4) is None
    assert assembler.next_deadline() == 10.5
    batch = assembler.next_batch(now=10.5)
    assert batch is not None
    assert batch.entity_type == "category"


def test_batches_never_mix_entity_types() -> None:
    assembler = BatchAssembler(max_records=2, max_bytes=10_000, linger_s=0)
    assembler.add(_record("product", 0), now=0)
    assembler.add(_record("category", 0), now=0)
    assembler.add(_record("product", 1), now=0)
    types = set()
    while (batch := assembler.next_batch(now=1)) is not None:
        assert len({r.entity_type for r in batch.records}) == 1
        types.add(batch.entity_type)
    assert types == {"product", "category"}


def test_revoked_partitions_are_dropped_from_every_buffered_batch() -> None:
    assembler = BatchAssembler(max_records=2, max_bytes=10_000, linger_s=60)
    for offset in range(4):
        assembler.add(_record("product", offset, partition=offset % 2), now=0)
    dropped = assembler.drop_partitions([("t.product", 1)])
    assert dropped == 2
    assert assembler.buffered_records == 2
    remaining = []
    while (batch := assembler.next_batch(now=100)) is not None:
        remaining += [r.offset for r in batch.records]
    assert remaining == [0, 2]
