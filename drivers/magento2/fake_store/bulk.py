"""`BulkOperations`: Magento's asynchronous bulk API, as far as a product backfill uses it.

``POST /rest/<store>/async/bulk/V1/products`` takes an array of ``POST /V1/products``
bodies and answers 202 with a ``bulk_uuid`` and one ``request_items`` entry per body
(``accepted``: queued, not saved). ``GET /V1/bulk/{uuid}/status`` lists the operations with
their status (1 complete, 2 retriable failure, 3 failed, 4 open, 5 rejected) and result
message; ``GET /V1/bulk/{uuid}/detailed-status`` adds each operation's request
(``serialized_data``: ``meta_information`` is the queued body) and, once complete, its result.
The fake runs the saves when the bulk is submitted but reports them open for the first
`open_polls` status reads, as a queue consumer would be behind.

An operation's ``id`` differs between stores (notes §7), so `operation_ids` chooses it:
``"index"`` (the request item's index, as in ``request_items``) or ``"database"`` (a
store-wide identity value, as a ``magento_operation`` row's: 77, 78, …).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Bulk", "BulkOperations", "Operation"]

COMPLETE, RETRIABLY_FAILED, FAILED, OPEN = 1, 2, 3, 4
OperationIds = Literal["index", "database"]
_TOPIC = "async.magento.catalog.api.productrepositoryinterface.save.post"


@dataclass
class Operation:
    id: int
    status: int
    result_message: str
    error_code: int | None = None
    serialized_data: str = ""
    result_serialized_data: str | None = None


@dataclass
class Bulk:
    uuid: str
    operations: list[Operation] = field(default_factory=list)
    polls: int = 0


class BulkOperations:
    def __init__(
        self, open_polls: int = 1, operation_ids: OperationIds = "index", first_row_id: int = 77
    ) -> None:
        self.open_polls = open_polls
        self.operation_ids = operation_ids
        self.bulks: dict[str, Bulk] = {}
        self._next_row_id = first_row_id

    def accepted(
        self,
        items: list[Any],
        outcomes: list[tuple[int, str, Any]],
        store_id: int,
    ) -> dict[str, Any]:
        """Record a submitted bulk (one outcome per item: status, message, result or None);
        the 202 body."""
        bulk = Bulk(str(uuid.uuid4()))
        for index, (item, (status, message, result)) in enumerate(
            zip(items, outcomes, strict=True)
        ):
            if self.operation_ids == "index":
                op_id = index
            else:
                op_id, self._next_row_id = self._next_row_id, self._next_row_id + 1
            request = {"entity_id": None, "entity_link": "",
                       "meta_information": json.dumps(item), "store_id": store_id}  # fmt: skip
            bulk.operations.append(
                Operation(
                    op_id,
                    status,
                    message,
                    None if status == COMPLETE else 0,
                    json.dumps(request),
                    None if result is None else json.dumps(result),
                )
            )
        self.bulks[bulk.uuid] = bulk
        return {
            "bulk_uuid": bulk.uuid,
            "request_items": [
                {
                    "id": i,
                    "data_hash": hashlib.sha256(json.dumps(item).encode()).hexdigest(),
                    "status": "accepted",
                }
                for i, item in enumerate(items)
            ],
            "errors": False,
        }

    def status(self, bulk_uuid: str, *, detailed: bool = False) -> dict[str, Any] | None:
        """The ``GET /V1/bulk/{uuid}/status`` body (``detailed-status`` with `detailed`), or
        None for an unknown bulk."""
        bulk = self.bulks.get(bulk_uuid)
        if bulk is None:
            return None
        bulk.polls += 1
        pending = bulk.polls <= self.open_polls
        return {
            "operations_list": [
                _operation_json(bulk, op, pending, detailed) for op in bulk.operations
            ],
            "user_type": 1,
            "bulk_id": bulk.uuid,
            "description": f"Topic {_TOPIC}",
            "start_time": "2026-01-01 00:00:00",
            "user_id": 1,
            "operation_count": len(bulk.operations),
        }


def _operation_json(bulk: Bulk, op: Operation, pending: bool, detailed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": op.id,
        "status": OPEN if pending else op.status,
        "result_message": "" if pending else op.result_message,
        **({} if pending or op.error_code is None else {"error_code": op.error_code}),
    }
    if detailed:
        out |= {"bulk_uuid": bulk.uuid, "topic_name": _TOPIC, "serialized_data": op.serialized_data}
        if not pending and op.result_serialized_data is not None:
            out["result_serialized_data"] = op.result_serialized_data
    return out
