"""The replica's tables: one per entity type, all of one shape.

    entity_uuid     varchar(255) primary key   the entity's IEC uuid
    payload         jsonb (json on SQLite)     the entity as last published
    version         bigint, null               the producer's per-entity version
    operation       varchar(16)                created, updated or deleted
    changed_fields  jsonb                      the fields the last change touched
    event_id        varchar(255), null         the last applied event's id
    occurred_at     timestamptz, null          when that change happened upstream
    created_at      timestamptz                when the row was first written here
    updated_at      timestamptz                when a mutation was last applied (indexed)
    deleted_at      timestamptz, null          soft-delete marker

Tables are created with CREATE TABLE IF NOT EXISTS and never dropped or altered; on
PostgreSQL creation holds a transaction-scoped advisory lock, so instances opening together
don't race each other.
"""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    inspect,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateIndex, CreateTable

from contracts import ConfigurationError

__all__ = ["COLUMNS", "TableSet", "table_name"]

_JSON = JSON().with_variant(JSONB(), "postgresql")
COLUMNS = (
    "entity_uuid",
    "payload",
    "version",
    "operation",
    "changed_fields",
    "event_id",
    "occurred_at",
    "created_at",
    "updated_at",
    "deleted_at",
)
_SAFE = re.compile(r"^[a-z0-9_]+$")
_MAX_IDENTIFIER = 63  # PostgreSQL's limit (bytes; these names are ASCII)
_DDL_LOCK = 0x1EC5_0001  # pg_advisory_xact_lock key of table creation


def table_name(prefix: str, entity_type: str) -> str:
    """``<prefix><entity_type>``; a type that is not a safe identifier gets a hashed suffix."""
    if _SAFE.match(entity_type) and len(prefix) + len(entity_type) <= _MAX_IDENTIFIER - 11:
        return f"{prefix}{entity_type}"
    digest = hashlib.sha256(entity_type.encode()).hexdigest()[:8]
    cleaned = re.sub(r"[^a-z0-9_]+", "_", entity_type.lower()).strip("_")[:32]
    return f"{prefix}{cleaned}_{digest}"


def _define(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("entity_uuid", String(255), primary_key=True),
        Column("payload", _JSON, nullable=False),
        Column("version", BigInteger, nullable=True),
        Column("operation", String(16), nullable=False),
        Column("changed_fields", _JSON, nullable=False),
        Column("event_id", String(255), nullable=True),
        Column("occurred_at", DateTime(timezone=True), nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("deleted_at", DateTime(timezone=True), nullable=True),
        Index(f"{name}_updated_at", "updated_at"),
    )


class TableSet:
    """The tables of one integration, defined on first use and created or checked once."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.metadata = MetaData()
        self._ready: dict[str, Table] = {}

    def table(self, entity_type: str) -> Table:
        """The table of `entity_type` (defined, not necessarily created yet)."""
        name = table_name(self.prefix, entity_type)
        existing = self.metadata.tables.get(name)
        return existing if existing is not None else _define(self.metadata, name)

    def ready(self, entity_type: str) -> Table | None:
        """The table if it was created or checked already."""
        return self._ready.get(entity_type)

    async def prepare(
        self, conn: AsyncConnection, entity_types: list[str], *, create: bool
    ) -> dict[str, Table]:
        """Create the tables of `entity_types` (``create``) or check that they exist."""
        tables = {t: self.table(t) for t in entity_types}
        if create:
            if conn.dialect.name == "postgresql":
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({_DDL_LOCK})"))
            for table in tables.values():
                await conn.execute(CreateTable(table, if_not_exists=True))
                for index in table.indexes:
                    await conn.execute(CreateIndex(index, if_not_exists=True))
        # A table of that name made by someone else would fail every batch: say so now.
        await conn.run_sync(_check, list(tables.values()))
        self._ready.update(tables)
        return tables


def _check(conn: Connection, tables: list[Table]) -> None:
    inspector = inspect(conn)
    for table in tables:
        if not inspector.has_table(table.name):
            raise ConfigurationError(
                f"table {table.name} does not exist and create_tables is false: create it with "
                f"`iec-connector setup --config FILE` (as a user with CREATE rights), or set "
                f"create_tables: true"
            )
        present = {column["name"] for column in inspector.get_columns(table.name)}
        missing = [c for c in COLUMNS if c not in present]
        if missing:
            raise ConfigurationError(
                f"table {table.name} lacks the columns {', '.join(missing)}: it was not made by "
                f"this driver; choose another table_prefix"
            )
