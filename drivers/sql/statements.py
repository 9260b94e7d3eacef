"""The statements a batch runs: one multi-row upsert, and the hard deletes (no I/O).

The upsert (PostgreSQL and SQLite share the syntax)::

    INSERT INTO t (...) VALUES (...), (...), ...
    ON CONFLICT (entity_uuid) DO UPDATE SET ...
    WHERE excluded.version IS NULL OR t.version IS NULL OR excluded.version > t.version

so a replayed or stale mutation (same or lower version) leaves a newer row alone; without
versions the last mutation handled wins. A soft deletion keeps the row's payload and
changed_fields (the entity as it last was) and sets deleted_at; a later create clears it.

A hard delete removes the row unless it holds a newer version. A batch larger than
`ROWS_PER_STATEMENT` is written in several statements of the same transaction (PostgreSQL
takes at most 32767 parameters per statement).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import ColumnElement, Delete, Table, case, delete, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from drivers.sql.rows import Row

__all__ = ["ROWS_PER_STATEMENT", "statements"]

ROWS_PER_STATEMENT = 1000
"""10 columns a row: 10,000 parameters, within PostgreSQL's and SQLite's limits."""


def _newer(table: Table, incoming: ColumnElement[int]) -> ColumnElement[bool]:
    stored = table.c.version
    return or_(incoming.is_(None), stored.is_(None), incoming > stored)


def _upsert(table: Table, rows: Sequence[Row], dialect: str) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values([row.values for row in rows])
    excluded = statement.excluded
    deleting = excluded.deleted_at.is_not(None)
    return statement.on_conflict_do_update(
        index_elements=[table.c.entity_uuid],
        set_={
            "payload": case((deleting, table.c.payload), else_=excluded.payload),
            "changed_fields": case(
                (deleting, table.c.changed_fields), else_=excluded.changed_fields
            ),
            "version": excluded.version,
            "operation": excluded.operation,
            "event_id": excluded.event_id,
            "occurred_at": excluded.occurred_at,
            "updated_at": excluded.updated_at,
            "deleted_at": excluded.deleted_at,
        },
        where=_newer(table, excluded.version),
    )


def _delete(table: Table, rows: Sequence[Row]) -> Iterator[Delete]:
    unversioned = [row.entity_uuid for row in rows if row.version is None]
    if unversioned:
        yield delete(table).where(table.c.entity_uuid.in_(unversioned))
    for row in rows:
        if row.version is not None:
            # One statement per versioned delete: each compares its own version.
            yield delete(table).where(
                table.c.entity_uuid == row.entity_uuid,
                or_(table.c.version.is_(None), table.c.version < row.version),
            )


def statements(table: Table, rows: Sequence[Row], dialect: str) -> Iterator[Insert | Delete]:
    """What writes `rows`: upserts in chunks of `ROWS_PER_STATEMENT`, then hard deletes."""
    upserts = [row for row in rows if not row.hard_delete]
    for start in range(0, len(upserts), ROWS_PER_STATEMENT):
        yield _upsert(table, upserts[start : start + ROWS_PER_STATEMENT], dialect)
    yield from _delete(table, [row for row in rows if row.hard_delete])
