"""Which operation of a Magento bulk ran which request item (notes §7); pure logic.

A bulk POST answers with one ``request_items`` entry per body (its ``id`` is the body's
index); each queued body is reported later as one operation of
``GET /V1/bulk/{uuid}/status``. What that operation's ``id`` holds is not the same on every
store: the body's index (the ``operation_key`` column of newer schemas) or the identity value
of its ``magento_operation`` row (77, 78, … as in the notes' example). So the driver never
trusts it alone:

1. `by_index`: if the operations' ids are exactly the queued indexes, an id is its index.
2. `by_request` (otherwise, on the operations of ``GET /V1/bulk/{uuid}/detailed-status``):
   an operation belongs to the queued body whose SKU its ``serialized_data`` carries
   (``meta_information`` is the body Magento queued); bodies sharing one SKU take that SKU's
   operations in id order, as Magento stores a bulk's operations in request order.
3. Operations whose request cannot be read take the bodies still unmatched in id order, but
   only when both counts agree; otherwise those bodies stay unmatched (the caller treats an
   unmatched body as not done, and sends it again: a product save is an upsert).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["by_index", "by_request", "request_sku"]

Operation = Mapping[str, Any]


def _id(operation: Operation) -> int | None:
    try:
        return int(operation["id"])
    except (KeyError, TypeError, ValueError):
        return None


def _in_id_order(operations: Sequence[Operation]) -> list[Operation]:
    return sorted(operations, key=lambda op: (_id(op) is None, _id(op) or 0))


def by_index(queued: Sequence[int], operations: Sequence[Operation]) -> dict[int, Operation] | None:
    """Step 1: queued index → operation, or None when the ids are not the queued indexes."""
    ids = [_id(op) for op in operations]
    if len(ids) != len(queued) or set(ids) != set(queued):
        return None
    return {index: op for index, op in zip(ids, operations, strict=True) if index is not None}


def request_sku(operation: Operation) -> str | None:
    """The SKU of the product body an operation ran (from ``serialized_data``), if readable."""
    try:
        data = json.loads(operation["serialized_data"])
        meta = data["meta_information"]
        body = json.loads(meta) if isinstance(meta, str) else meta
        sku = body["product"]["sku"]
    except (KeyError, TypeError, ValueError):
        return None
    return sku if isinstance(sku, str) and sku else None


def by_request(
    queued: Sequence[int], skus: Sequence[str], operations: Sequence[Operation]
) -> dict[int, Operation]:
    """Steps 2-3: queued index → operation, matched through the request each one ran.

    `skus[i]` is the SKU of body `i`; a queued index no operation matches is left out.
    """
    waiting: dict[str, deque[int]] = {}
    for index in queued:
        waiting.setdefault(skus[index], deque()).append(index)
    matched: dict[int, Operation] = {}
    unread: list[Operation] = []
    # 2. by SKU, in id order within one SKU
    for op in _in_id_order(operations):
        sku = request_sku(op)
        if sku is None:
            unread.append(op)
        elif waiting.get(sku):
            matched[waiting[sku].popleft()] = op
    # 3. the rest in id order, only when the counts agree
    rest = [index for index in queued if index not in matched]
    if unread and len(unread) == len(rest):
        matched.update(zip(rest, unread, strict=True))
    return matched
