"""A real PostgreSQL for the `sql` driver's tests, and a database of each kind per test.

Server choice, as for Kafka: `IEC_POSTGRES_URL` if set; else the local cluster of
`connector.local_postgres` (started for the session and stopped after it, unless it was
already running or `IEC_POSTGRES_KEEP_RUNNING` is set). `.ci/run` starts it beforehand.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sql_replica import configured_postgres_url, drop_tables

from connector import local_postgres
from contracts import EntityTypes


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the server `postgres`."""
    for item in items:
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL (asyncpg) of a real PostgreSQL server for the whole session."""
    configured = configured_postgres_url()
    if configured:
        yield configured
        return
    was_running = local_postgres.running_cluster() is not None
    cluster = local_postgres.ensure_running()
    yield cluster.url()
    if not was_running and not os.environ.get("IEC_POSTGRES_KEEP_RUNNING"):
        local_postgres.stop()


@pytest.fixture
def table_prefix() -> str:
    """A table prefix of this test alone."""
    return f"t{uuid.uuid4().hex[:10]}_"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, table_prefix: str
) -> Iterator[str]:
    """Each test twice: an SQLite file, and the PostgreSQL server (tables dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'replica.sqlite3'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    yield url
    drop_tables(url, table_prefix, [*EntityTypes.standard(), "custom-type.v2"])
