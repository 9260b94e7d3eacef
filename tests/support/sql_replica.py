"""Read and clean up the `sql` driver's tables from tests (each call its own engine and loop)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from drivers.sql import table_name
from drivers.sql.tables import TableSet

POSTGRES_URL_ENV = "IEC_POSTGRES_URL"


def asyncpg_url(url: str) -> str:
    """`url` (``postgresql://`` or ``postgresql+asyncpg://``) with the asyncpg driver."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def configured_postgres_url() -> str | None:
    configured = os.environ.get(POSTGRES_URL_ENV)
    return asyncpg_url(configured) if configured else None


Rows = dict[str, dict[str, Any]]


async def _read(url: str, prefix: str, entity_types: Sequence[str]) -> dict[str, Rows]:
    engine = create_async_engine(url)
    tables = TableSet(prefix)
    found: dict[str, Rows] = {}
    try:
        async with engine.connect() as conn:
            for entity_type in entity_types:
                result = await conn.execute(select(tables.table(entity_type)))
                found[entity_type] = {row.entity_uuid: dict(row._mapping) for row in result}
    finally:
        await engine.dispose()
    return found


def read_tables(url: str, prefix: str, entity_types: Sequence[str]) -> dict[str, Rows]:
    """Every row of the tables of `entity_types`, by entity type and entity uuid."""
    return asyncio.run(_read(url, prefix, entity_types))


def read_table(url: str, prefix: str, entity_type: str) -> Rows:
    """Every row of `entity_type`'s table, by entity uuid."""
    return read_tables(url, prefix, [entity_type])[entity_type]


async def _execute(url: str, statements: Iterable[str]) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


def execute(url: str, *statements: str) -> None:
    """Run `statements` in one transaction."""
    asyncio.run(_execute(url, statements))


def drop_tables(url: str, prefix: str, entity_types: Iterable[str]) -> None:
    """Drop the tables a test made (the driver itself never drops anything)."""
    execute(url, *(f"DROP TABLE IF EXISTS {table_name(prefix, t)}" for t in entity_types))
