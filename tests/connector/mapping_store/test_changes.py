"""`ChangeSet`: what a write call puts on the mapping topic (no broker)."""

from __future__ import annotations

import pytest

from connector.mapping_store.changes import ChangeSet
from connector.mapping_store.record import MappingRecord, decode_record, encode_record


def _view(**values: MappingRecord) -> dict[bytes, bytes]:
    return {key.replace("_", ":").encode(): encode_record(r) for key, r in values.items()}


def test_a_recreate_with_the_same_external_id_keeps_created_at() -> None:
    view = _view(product_p=MappingRecord("ext", None, 1_000, 1_000))
    changes = ChangeSet(view.get, now_ms=5_000)

    changes.create("product", "p", "ext", {"v": 2})
    changes.create("product", "q", "ext-q", None)

    (key, value), (other_key, other_value) = changes.changes
    assert key == b"product:p"
    assert value is not None
    assert decode_record(value) == MappingRecord("ext", {"v": 2}, 1_000, 5_000)
    assert other_key == b"product:q"
    assert other_value is not None
    assert decode_record(other_value) == MappingRecord("ext-q", None, 5_000, 5_000)


def test_later_changes_of_a_call_see_the_earlier_ones() -> None:
    empty: dict[bytes, bytes] = {}
    changes = ChangeSet(empty.get, now_ms=7)
    changes.create("product", "p", "ext", None)
    changes.update("product", "p", {"sku": "A"})
    assert changes.delete("product", "p") is True
    assert changes.delete("product", "p") is False  # already deleted by this call

    assert [key for key, _ in changes.changes] == [b"product:p"] * 3
    update = changes.changes[1][1]
    assert update is not None
    assert decode_record(update) == MappingRecord("ext", {"sku": "A"}, 7, 7)
    assert changes.changes[2][1] is None


def test_refusals_change_nothing() -> None:
    empty: dict[bytes, bytes] = {}
    changes = ChangeSet(empty.get, now_ms=1)
    with pytest.raises(KeyError, match="product:nope"):
        changes.update("product", "nope", {"a": 1})
    with pytest.raises(ValueError, match="external_id"):
        changes.create("product", "p", "", None)
    assert changes.delete("product", "nope") is False
    assert changes.changes == []
