"""The demo's ``--driver sql`` target: the catalogue replicated into a database.

By default an SQLite file in a temporary folder (embedded: no server needed), removed when
the demo ends; with ``IEC_DEMO_SQL_URL`` (e.g. the local PostgreSQL: ``python -m
connector.local_postgres url``) the tables go there and stay, under a ``demo_<hex>_``
prefix. The report counts the rows of each table (live and soft-deleted) and compares every
entity with the last mutation published for it.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from connector.demo.targets import DemoOptions, TargetReport
from contracts import DriverContract, EntityTypes, MutationData, Operation, validate_configuration
from drivers.sql import SqlConfig, SqlDriver
from drivers.sql.tables import TableSet

__all__ = ["SqlTarget"]

URL_ENV = "IEC_DEMO_SQL_URL"
Rows = dict[str, dict[str, dict[str, Any]]]


class SqlTarget:
    name = "sql"
    driver_type = "sql"

    def __init__(self, options: DemoOptions) -> None:
        self.driver_class: type[DriverContract] = SqlDriver
        self.configured_url = options.environ.get(URL_ENV)
        self.prefix = f"demo_{secrets.token_hex(3)}_"
        self._folder: Path | None = None

    @property
    def url(self) -> str:
        if self.configured_url:
            return self.configured_url
        if self._folder is None:
            raise RuntimeError("SqlTarget.start() first")
        return f"sqlite+aiosqlite:///{self._folder / 'replica.sqlite3'}"

    def _config(self) -> SqlConfig:
        config = validate_configuration(SqlConfig, {"url": self.url, "table_prefix": self.prefix})
        assert isinstance(config, SqlConfig)
        return config

    def describe(self) -> str:
        if self.configured_url:
            where = f"{self._config().display_url} (${URL_ENV}; tables {self.prefix}* are kept)"
        else:
            where = "an SQLite file in a temporary folder (removed afterwards)"
        return f"the sql driver into {where}"

    def start(self) -> None:
        if not self.configured_url:
            self._folder = Path(tempfile.mkdtemp(prefix="iec-demo-sql-"))

    def stop(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def driver_config(self) -> dict[str, Any]:
        return {"url": self.url, "table_prefix": self.prefix}

    def integration_settings(self) -> dict[str, Any]:
        return {}

    def expected_mappings(self, mutations: tuple[MutationData, ...], live: int) -> int:
        return 0  # the table is the downstream identity: the driver keeps no mappings

    def phases(self, mutations: tuple[MutationData, ...]) -> list[tuple[MutationData, ...]]:
        return [mutations]

    def report(self, mutations: tuple[MutationData, ...]) -> TargetReport | None:
        rows = asyncio.run(_read(self._config(), EntityTypes.standard()))
        return TargetReport(_view(rows, self.prefix), compare(mutations, rows))


async def _read(config: SqlConfig, entity_types: tuple[str, ...]) -> Rows:
    engine = create_async_engine(config.sqlalchemy_url())
    tables = TableSet(config.table_prefix)
    found: Rows = {}
    try:
        async with engine.connect() as conn:
            for entity_type in entity_types:
                result = await conn.execute(select(tables.table(entity_type)))
                found[entity_type] = {r.entity_uuid: dict(r._mapping) for r in result}
    finally:
        await engine.dispose()
    return found


def compare(mutations: tuple[MutationData, ...], rows: Rows) -> list[str]:
    """How the tables differ from the last mutation published for each entity."""
    last: dict[tuple[str, str], MutationData] = {}
    for mutation in mutations:
        last[(mutation.entity_type, mutation.entity_uuid)] = mutation
    problems: list[str] = []
    for (entity_type, uuid), mutation in last.items():
        row = rows.get(entity_type, {}).get(uuid)
        deleted = mutation.operation is Operation.DELETED
        if row is None:
            problems.append(f"{entity_type} {uuid}: no row")
        elif row["version"] != mutation.version:
            problems.append(
                f"{entity_type} {uuid}: version {row['version']}, not {mutation.version}"
            )
        elif (row["deleted_at"] is not None) != deleted:
            problems.append(f"{entity_type} {uuid}: deleted_at does not match the last operation")
        elif not deleted and row["payload"] != dict(mutation.payload):
            problems.append(f"{entity_type} {uuid}: the payload differs from the published one")
    extra = sum(len(t) for t in rows.values()) - len(last)
    if extra > 0:
        problems.append(f"{extra} row(s) for entities that were never published")
    return problems[:10]


def _view(rows: Rows, prefix: str) -> Table:
    table = Table(title="What the database holds", title_justify="left")
    for column in ("table", "rows", "live", "soft-deleted", "newest version"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for entity_type, entities in rows.items():
        versions = [r["version"] for r in entities.values() if r["version"] is not None]
        deleted = sum(1 for r in entities.values() if r["deleted_at"] is not None)
        table.add_row(
            f"{prefix}{entity_type}",
            str(len(entities)),
            str(len(entities) - deleted),
            str(deleted),
            str(max(versions)) if versions else "-",
        )
    return table
