"""The statements a batch runs: one multi-row upsert, and the hard deletes (no I/O).

The upsert (PostgreSQL and SQLite share the syntax)::

    INSERT INTO t (...) VALUES (...), (...), ...
    ON CONFLICT (entity_uuid) DO UPDATE SET ...
    WHERE excluded.version IS NULL OR t.version IS NULL OR excluded.version > t.version
    RETURNING t.entity_uuid

so a replayed or stale mutation (same or lower version) leaves a newer row alone; without
versions the last mutation handled wins. An unversioned mutation keeps the stored version
(``version = COALESCE(excluded.version, t.version)``): were it wiped, any stale versioned
mutation could overwrite the row again, or revive a soft-deleted one. A soft deletion
keeps the row's payload and changed_fields (the entity as it last was) and sets
deleted_at; a later create clears it.
RETURNING lists the rows actually written.

Each statement is built once per table and executed with the batch's rows as parameters:
SQLAlchemy's "insertmanyvalues" then renders one multi-row VALUES from the compiled form
(up to 1000 rows a statement, within PostgreSQL's 32767 parameters), instead of compiling a
new statement with 2,500 bound parameters for every batch (which cost more than the write).

A hard delete removes the row unless it holds a newer version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Delete, Table, bindparam, case, delete, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import ReturningInsert

from drivers.sql.rows import Row

__all__ = ["Statements"]


def _newer(table: Table, incoming: ColumnElement[int]) -> ColumnElement[bool]:
    stored = table.c.version
    return or_(incoming.is_(None), stored.is_(None), incoming > stored)


@dataclass(frozen=True, slots=True)
class Statements:
    """The statements of one table in one dialect; build once, execute per batch."""

    table: Table
    upsert: ReturningInsert[tuple[str]]
    delete_versioned: Delete
    delete_unversioned: Delete

    @classmethod
    def build(cls, table: Table, dialect: str) -> Statements:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(table)
        excluded = statement.excluded
        deleting = excluded.deleted_at.is_not(None)
        upsert = statement.on_conflict_do_update(
            index_elements=[table.c.entity_uuid],
            set_={
                "payload": case((deleting, table.c.payload), else_=excluded.payload),
                "changed_fields": case(
                    (deleting, table.c.changed_fields), else_=excluded.changed_fields
                ),
                "version": func.coalesce(excluded.version, table.c.version),
                "operation": excluded.operation,
                "event_id": excluded.event_id,
                "occurred_at": excluded.occurred_at,
                "updated_at": excluded.updated_at,
                "deleted_at": excluded.deleted_at,
            },
            where=_newer(table, excluded.version),
        ).returning(table.c.entity_uuid)
        delete_versioned = delete(table).where(
            table.c.entity_uuid == bindparam("uuid"),
            or_(table.c.version.is_(None), table.c.version < bindparam("version")),
        )
        delete_unversioned = delete(table).where(
            table.c.entity_uuid.in_(bindparam("uuids", expanding=True))
        )
        return cls(table, upsert, delete_versioned, delete_unversioned)

    @staticmethod
    def upsert_rows(rows: Sequence[Row]) -> list[dict[str, object]]:
        return [row.values for row in rows if not row.hard_delete]

    @staticmethod
    def versioned_deletes(rows: Sequence[Row]) -> list[dict[str, object]]:
        return [
            {"uuid": row.entity_uuid, "version": row.version}
            for row in rows
            if row.hard_delete and row.version is not None
        ]

    @staticmethod
    def unversioned_deletes(rows: Sequence[Row]) -> list[str]:
        return [row.entity_uuid for row in rows if row.hard_delete and row.version is None]
