"""Turn a batch of mutations into the rows one transaction writes (pure, no I/O).

1. A mutation whose version does not fit a bigint is rejected (a permanent error of that
   record alone).
2. Per entity only the newest mutation of the batch is written: a multi-row upsert may not
   touch one row twice, and the newest one is what the row must end up as. "Newest" is the
   higher version when both have one, else the later one in the batch (the runtime hands
   mutations over in partition order). The older ones are *superseded*: handled, unless
   the database rejects the newest one; then the driver plans them again (its step 5).
3. Rows are sorted by entity uuid, so concurrent transactions lock rows in one order and
   cannot deadlock each other.

Whether a row is written at all is then up to the database: the upsert only replaces a
stored row whose version is older (see `drivers.sql.statements`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts import MutationData, Operation, PermanentError

__all__ = ["Row", "RowPlan", "plan_rows"]

_BIGINT = (-(2**63), 2**63 - 1)


@dataclass(frozen=True, slots=True)
class Row:
    """One row to upsert (or, `hard_delete`, to delete), carrying mutation `index`."""

    index: int
    entity_uuid: str
    values: dict[str, Any]
    hard_delete: bool = False

    @property
    def version(self) -> int | None:
        version: int | None = self.values["version"]
        return version


@dataclass(slots=True)
class RowPlan:
    """What one entity type's part of a batch writes."""

    rows: list[Row] = field(default_factory=list)
    superseded: dict[int, int] = field(default_factory=dict)
    """Index of a mutation not written → index of the newer one of the same entity."""
    rejected: dict[int, PermanentError] = field(default_factory=dict)


def _newer(candidate: MutationData, current: MutationData) -> bool:
    if candidate.version is not None and current.version is not None:
        return candidate.version >= current.version
    return True  # later in the batch


def plan_rows(
    mutations: Sequence[MutationData],
    indexes: Sequence[int],
    *,
    now: datetime,
    hard_delete: bool,
) -> RowPlan:
    """The rows for `mutations` (of one entity type) at batch positions `indexes`."""
    plan = RowPlan()
    newest: dict[str, tuple[int, MutationData]] = {}
    for index, mutation in zip(indexes, mutations, strict=True):
        # 1. versions beyond bigint
        version = mutation.version
        if version is not None and not _BIGINT[0] <= version <= _BIGINT[1]:
            plan.rejected[index] = PermanentError(
                f"version {version} of {mutation.entity_type} {mutation.entity_uuid} does not "
                f"fit the version column (a signed 64-bit integer)"
            )
            continue
        # 2. newest per entity
        seen = newest.get(mutation.entity_uuid)
        if seen is None or _newer(mutation, seen[1]):
            newest[mutation.entity_uuid] = (index, mutation)
    for index, mutation in newest.values():
        deleted = mutation.operation is Operation.DELETED
        plan.rows.append(
            Row(
                index=index,
                entity_uuid=mutation.entity_uuid,
                values={
                    "entity_uuid": mutation.entity_uuid,
                    "payload": mutation.payload,
                    "version": mutation.version,
                    "operation": mutation.operation.value,
                    "changed_fields": list(mutation.changed_fields),
                    "event_id": mutation.event_id,
                    "occurred_at": mutation.occurred_at,
                    "created_at": now,
                    "updated_at": now,
                    "deleted_at": now if deleted else None,
                },
                hard_delete=deleted and hard_delete,
            )
        )
    kept = {row.index for row in plan.rows}
    by_entity = {row.entity_uuid: row.index for row in plan.rows}
    for index, mutation in zip(indexes, mutations, strict=True):
        if index not in kept and index not in plan.rejected:
            plan.superseded[index] = by_entity[mutation.entity_uuid]
    # 3. one lock order for every transaction
    plan.rows.sort(key=lambda row: row.entity_uuid)
    return plan
