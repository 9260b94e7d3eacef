"""The SQLAlchemy async engine of one integration, set up per backend.

PostgreSQL (asyncpg): a pool of `pool_size` connections, a connect timeout, and the
``application_name`` ``iec-connector`` (visible in ``pg_stat_activity``).

SQLite (aiosqlite): WAL journal and a busy timeout, so concurrent batches wait for the write
lock instead of failing; transactions start with BEGIN IMMEDIATE (the driver's implicit
transactions would break SAVEPOINTs, which isolating a bad record needs). An in-memory
database lives in one shared connection.

Both: parameters are never rendered into error messages (`hide_parameters`), and JSON is
written with orjson.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from drivers.sql.config import SqlConfig

__all__ = ["make_engine"]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(config: SqlConfig) -> AsyncEngine:
    url = config.sqlalchemy_url()
    common: dict[str, Any] = {"hide_parameters": True, "json_serializer": _json}
    if config.backend == "postgresql":
        return create_async_engine(
            url,
            pool_size=config.pool_size,
            max_overflow=0,
            pool_timeout=config.connect_timeout_s,
            connect_args={
                "timeout": config.connect_timeout_s,
                "server_settings": {"application_name": "iec-connector"},
            },
            **common,
        )
    memory = url.database in (None, "", ":memory:")
    engine = create_async_engine(
        url,
        connect_args={"timeout": config.connect_timeout_s, "check_same_thread": False},
        **({"poolclass": StaticPool} if memory else {}),
        **common,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we say BEGIN ourselves
        if not memory:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
