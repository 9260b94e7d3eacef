"""`SqlDriver`: a SQL replica of the catalogue, one table per entity type.

Lifecycle:

* `open()` makes the engine and creates the tables of the supported entity types (or, with
  ``create_tables: false``, checks that they exist). A database that does not answer yet
  is no reason to refuse to start: the tables are then prepared by the first batch (and a
  batch that cannot reach the database is retried). Bad credentials or a foreign table of
  the same name stop the integration (`ConfigurationError`).
* `setup()` creates the tables whatever `create_tables` says (`iec-connector setup`).
* `close()` disposes of the engine's connections.

`handle_batch` protocol:

1. Plan the rows (`drivers.sql.rows`): newest mutation per entity; versions beyond bigint
   rejected.
2. Make sure the tables exist (their own transaction, once per entity type).
3. One transaction: ``SET LOCAL statement_timeout`` below the call's deadline
   (PostgreSQL), then the multi-row upsert and hard deletes (`drivers.sql.statements`).
   Commit.
4. If the database rejected a record (constraint or data error), a new transaction finds
   it: the rows are bisected, each part written in a SAVEPOINT, until the failing rows are
   single; everything else is committed.
5. An entity whose newest mutation was rejected gets its next newest one of the batch
   written instead (again in savepoints, and so on), so it ends as handling the batch one
   mutation at a time would leave it: only the rejected mutations fail.
6. Raise `PartialBatchError` for the rejected records; a transient failure anywhere
   (connection, deadlock, timeout) rolls everything back and raises `TransientError`, so
   the batch is retried whole and nothing is ever half-written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contracts import (
    AbstractDriver,
    ConfigurationError,
    ConfigurationSchema,
    MutationData,
    PartialBatchError,
    PermanentError,
    TransientError,
)
from drivers.sql.config import SqlConfig
from drivers.sql.engine import make_engine
from drivers.sql.failures import Failure, classify, describe
from drivers.sql.rows import Row, RowPlan, plan_rows
from drivers.sql.statements import Statements
from drivers.sql.tables import TableSet

__all__ = ["SqlDriver"]

_SERVER_MARGIN_S = 0.25
"""The server's statement timeout fires this much before the call's deadline."""
_CLIENT_GRACE_S = 1.0
"""Our own timeout waits this much longer than the server's, to hear its answer."""


@dataclass(frozen=True, slots=True)
class _Budget:
    server_s: float
    client_s: float


class _RecordRejectedError(Exception):
    """Step 3 met a record-level error: go to step 4."""


class SqlDriver(AbstractDriver):
    """Keeps one table per entity type in PostgreSQL or SQLite, newest version wins."""

    def __init__(self) -> None:
        super().__init__()
        self._engine: AsyncEngine | None = None
        self._tables: TableSet | None = None
        self._statements: dict[str, Statements] = {}

    # -- identity ---------------------------------------------------------------------------
    def get_name(self) -> str:
        return "SQL replica"

    def get_type(self) -> str:
        return "sql"

    def get_version(self) -> str:
        return "1.0.0"

    def get_description(self) -> str:
        return (
            "Keeps a replica of the catalogue in PostgreSQL or SQLite: one table per entity "
            "type, one transaction and one multi-row upsert per batch, stale versions ignored."
        )

    def get_configuration_schema(self) -> ConfigurationSchema:
        return SqlConfig

    @property
    def settings(self) -> SqlConfig:
        if not isinstance(self.config, SqlConfig):
            raise ConfigurationError("the sql driver was bound without a validated SqlConfig")
        return self.config

    # -- lifecycle --------------------------------------------------------------------------
    async def open(self) -> None:
        await self._start(create=self.settings.create_tables, tolerate_outage=True)

    async def setup(self) -> None:
        """Create the tables of every supported entity type (`iec-connector setup`)."""
        await self._start(create=True, tolerate_outage=False)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _start(self, *, create: bool, tolerate_outage: bool) -> None:
        settings = self.settings
        if self._engine is None:
            self._engine = make_engine(settings)
            self._tables = TableSet(settings.table_prefix)
        try:
            await self._prepare(list(self.get_supported_entity_types()), create=create)
        except TransientError as exc:
            if not tolerate_outage:
                raise
            self.logger.warning(
                "%s is not reachable yet (%s); tables are prepared by the first batch",
                settings.display_url,
                exc,
            )
        else:
            self.logger.info("replica tables ready in %s", settings.display_url)

    async def _prepare(self, entity_types: list[str], *, create: bool) -> None:
        """Step 2: create or check the tables not prepared yet, in their own transaction."""
        assert self._engine is not None
        assert self._tables is not None
        missing = [t for t in entity_types if self._tables.ready(t) is None]
        if not missing:
            return
        try:
            async with asyncio.timeout(self.settings.connect_timeout_s * 2):
                async with self._engine.begin() as conn:
                    await self._tables.prepare(conn, missing, create=create)
        except ConfigurationError:
            raise
        except Exception as exc:
            raise self._translate(exc, "preparing the tables") from exc

    # -- processing -------------------------------------------------------------------------
    async def handle(self, mutation: MutationData) -> None:
        await self.handle_batch([mutation])

    async def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        if not mutations:
            return
        if self._engine is None:
            await self._start(create=self.settings.create_tables, tolerate_outage=True)
        # 1. plan, per entity type (the runtime sends one; be kind to other callers)
        positions: dict[str, list[int]] = {}
        for index, mutation in enumerate(mutations):
            positions.setdefault(mutation.entity_type, []).append(index)
        now = self.context.now()
        hard = self.settings.delete_mode == "hard"
        failures: dict[int, BaseException] = {}
        rows: dict[str, list[Row]] = {}
        plans: dict[str, RowPlan] = {}
        for entity_type, indexes in positions.items():
            plan = plan_rows([mutations[i] for i in indexes], indexes, now=now, hard_delete=hard)
            failures.update(plan.rejected)
            rows[entity_type] = plan.rows
            plans[entity_type] = plan
        # 2. tables
        await self._prepare(list(rows), create=self.settings.create_tables)
        budget = self._budget()
        try:
            async with asyncio.timeout(budget.client_s):
                try:
                    # 3. all in one transaction
                    await self._write(rows, budget, isolate=False)
                except _RecordRejectedError:
                    # 4. find the rejected records, commit the rest
                    rejected = await self._write(rows, budget, isolate=True)
                    failures.update(rejected)
                    # 5. the older mutations of the entities whose newest one was rejected
                    while rejected:
                        plans, rows = self._older(mutations, plans, rejected, now, hard)
                        rejected = await self._write(rows, budget, isolate=True) if rows else {}
                        failures.update(rejected)
        except TimeoutError:
            raise TransientError(
                f"the database did not finish the batch within {budget.client_s:.1f} s"
            ) from None
        except (ConfigurationError, TransientError):
            raise
        except Exception as exc:
            raise self._translate(exc, "writing the batch") from exc
        # 6. report
        if failures:
            raise PartialBatchError(failures)

    @staticmethod
    def _older(
        mutations: Sequence[MutationData],
        plans: dict[str, RowPlan],
        rejected: dict[int, BaseException],
        now: datetime,
        hard: bool,
    ) -> tuple[dict[str, RowPlan], dict[str, list[Row]]]:
        """Step 5: plan the mutations that rejected rows superseded (the newest per entity)."""
        older_plans: dict[str, RowPlan] = {}
        for entity_type, plan in plans.items():
            older = sorted(i for i, newer in plan.superseded.items() if newer in rejected)
            if older:
                older_plans[entity_type] = plan_rows(
                    [mutations[i] for i in older], older, now=now, hard_delete=hard
                )
        return older_plans, {t: plan.rows for t, plan in older_plans.items()}

    def _budget(self) -> _Budget:
        deadline = self.context.deadline()
        server = deadline.timeout(self.settings.statement_timeout_s, margin_s=_SERVER_MARGIN_S)
        return _Budget(server, max(server, min(server + _CLIENT_GRACE_S, deadline.remaining())))

    async def _write(
        self, rows: dict[str, list[Row]], budget: _Budget, *, isolate: bool
    ) -> dict[int, BaseException]:
        assert self._engine is not None
        assert self._tables is not None
        failures: dict[int, BaseException] = {}
        async with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                milliseconds = max(1, int(budget.server_s * 1000))
                await conn.execute(text(f"SET LOCAL statement_timeout = {milliseconds}"))
            for entity_type, entity_rows in rows.items():
                statements = self._statements_of(entity_type, conn.dialect.name)
                if isolate:
                    await self._isolate(conn, statements, entity_rows, failures)
                    continue
                try:
                    written = await self._execute(conn, statements, entity_rows)
                except Exception as exc:
                    if classify(exc) is Failure.RECORD:
                        raise _RecordRejectedError from exc
                    raise
                self.logger.debug(
                    "%s: %d rows written, %d left alone (a newer version is stored)",
                    statements.table.name,
                    written,
                    len(entity_rows) - written,
                )
        return failures

    def _statements_of(self, entity_type: str, dialect: str) -> Statements:
        assert self._tables is not None
        statements = self._statements.get(entity_type)
        if statements is None:
            table = self._tables.table(entity_type)
            statements = self._statements[entity_type] = Statements.build(table, dialect)
        return statements

    @staticmethod
    async def _execute(conn: AsyncConnection, statements: Statements, rows: list[Row]) -> int:
        """The batch's statements for one table; how many rows the upsert wrote."""
        written = 0
        upserts = statements.upsert_rows(rows)
        if upserts:
            result = await conn.execute(statements.upsert, upserts)
            written = len(result.all())
        versioned = statements.versioned_deletes(rows)
        if versioned:
            await conn.execute(statements.delete_versioned, versioned)
        unversioned = statements.unversioned_deletes(rows)
        if unversioned:
            await conn.execute(statements.delete_unversioned, {"uuids": unversioned})
        return written + len(versioned) + len(unversioned)

    async def _isolate(
        self,
        conn: AsyncConnection,
        statements: Statements,
        rows: list[Row],
        failures: dict[int, BaseException],
    ) -> None:
        """Step 4: write `rows` in a SAVEPOINT; on a record error, bisect."""
        try:
            async with conn.begin_nested():
                await self._execute(conn, statements, rows)
        except Exception as exc:
            if classify(exc) is not Failure.RECORD:
                raise
            if len(rows) == 1:
                failures[rows[0].index] = PermanentError(
                    f"the database rejected {statements.table.name} row "
                    f"{rows[0].entity_uuid}: {describe(exc)}"
                )
                return
            middle = len(rows) // 2
            await self._isolate(conn, statements, rows[:middle], failures)
            await self._isolate(conn, statements, rows[middle:], failures)

    def _translate(self, exc: BaseException, doing: str) -> Exception:
        kind = classify(exc)
        where = self.settings.display_url
        if kind is Failure.FATAL:
            return ConfigurationError(f"{doing} in {where} failed: {describe(exc)}")
        return TransientError(f"{doing} in {where} failed: {describe(exc)}")
