"""`BulkOperations`: Magento's asynchronous bulk API, as far as a product backfill uses it.

``POST /rest/<store>/async/bulk/V1/products`` takes an array of ``POST /V1/products``
bodies and answers 202 with a ``bulk_uuid`` and one ``request_items`` entry per body
(``accepted``: queued, not saved). ``GET /V1/bulk/{uuid}/status`` lists the operations with
their status (1 complete, 2 retriable failure, 3 failed, 4 open, 5 rejected) and result
message. The fake runs the saves when the bulk is submitted but reports them open for the
first `open_polls` status reads, as a queue consumer would be behind.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Bulk", "BulkOperations", "Operation"]

COMPLETE, RETRIABLY_FAILED, FAILED, OPEN = 1, 2, 3, 4
_TOPIC = "async.magento.catalog.api.productrepositoryinterface.save.post"


@dataclass
class Operation:
    id: int
    status: int
    result_message: str
    error_code: int | None = None


@dataclass
class Bulk:
    uuid: str
    operations: list[Operation] = field(default_factory=list)
    polls: int = 0


class BulkOperations:
    def __init__(self, open_polls: int = 1) -> None:
        self.open_polls = open_polls
        self.bulks: dict[str, Bulk] = {}

    def accepted(self, items: list[Any], outcomes: list[tuple[int, str]]) -> dict[str, Any]:
        """Record a submitted bulk (one outcome per item: status, message); the 202 body."""
        bulk = Bulk(str(uuid.uuid4()))
        for index, (status, message) in enumerate(outcomes):
            bulk.operations.append(
                Operation(index, status, message, None if status == COMPLETE else 0)
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

    def status(self, bulk_uuid: str) -> dict[str, Any] | None:
        """The ``GET /V1/bulk/{uuid}/status`` body, or None for an unknown bulk."""
        bulk = self.bulks.get(bulk_uuid)
        if bulk is None:
            return None
        bulk.polls += 1
        pending = bulk.polls <= self.open_polls
        return {
            "operations_list": [
                {
                    "id": op.id,
                    "status": OPEN if pending else op.status,
                    "result_message": "" if pending else op.result_message,
                    **({} if pending or op.error_code is None else {"error_code": op.error_code}),
                }
                for op in bulk.operations
            ],
            "user_type": 1,
            "bulk_id": bulk.uuid,
            "description": f"Topic {_TOPIC}",
            "start_time": "2026-01-01 00:00:00",
            "user_id": 1,
            "operation_count": len(bulk.operations),
        }
