"""SqlDriver against real databases: SQLite files and the PostgreSQL server."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from sql_replica import drop_tables, execute, read_table, read_tables

from contracts import (
    ConfigurationError,
    IntegrationContext,
    PartialBatchError,
    PermanentError,
    TransientError,
)
from contracts.testing import DriverHarness, MutationFactory, make_mutation
from contracts.testing.suite import DriverContractSuite
from drivers.sql import SqlDriver, table_name

TYPES = ("product", "category", "attribute", "family")


def _snapshot(url: str, prefix: str) -> Callable[[], object]:
    def snap() -> object:
        return read_tables(url, prefix, TYPES)

    return snap


class TestSqlDriverContractSqlite(DriverContractSuite):
    @pytest.fixture
    def driver(self) -> SqlDriver:
        return SqlDriver()

    @pytest.fixture
    def driver_config(self, tmp_path: Path) -> Mapping[str, Any]:
        return {"url": f"sqlite:///{tmp_path / 'contract.sqlite3'}"}

    @pytest.fixture
    def downstream_snapshot(self, driver_config: Mapping[str, Any]) -> Callable[[], object]:
        return _snapshot(str(driver_config["url"]).replace("sqlite:", "sqlite+aiosqlite:"), "iec_")


class TestSqlDriverContractPostgres(DriverContractSuite):
    @pytest.fixture
    def driver(self) -> SqlDriver:
        return SqlDriver()

    @pytest.fixture
    def driver_config(self, postgres_url: str, table_prefix: str) -> Iterator[Mapping[str, Any]]:
        yield {"url": postgres_url, "table_prefix": table_prefix}
        drop_tables(postgres_url, table_prefix, TYPES)

    @pytest.fixture
    def downstream_snapshot(self, postgres_url: str, table_prefix: str) -> Callable[[], object]:
        return _snapshot(postgres_url, table_prefix)


# -- behaviour, on both databases -------------------------------------------------------------


class _Clock:
    """A clock that moves one second per reading, so each write has its own updated_at."""

    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> datetime:
        return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=next(self._ticks))


@pytest.fixture
def factory() -> MutationFactory:
    return MutationFactory(seed=11)


@pytest.fixture
def bound(database_url: str, table_prefix: str) -> Iterator[DriverHarness]:
    context = IntegrationContext("00000000-0000-4000-8000-000000000051", "sql-test", clock=_Clock())
    config = {"url": database_url, "table_prefix": table_prefix}
    with DriverHarness(SqlDriver(), config=config, context=context) as harness:
        yield harness


def rows(harness: DriverHarness, entity_type: str = "product") -> dict[str, dict[str, Any]]:
    config = harness.driver.config  # type: ignore[attr-defined]
    url = config.sqlalchemy_url().render_as_string(hide_password=False)
    return read_table(url, config.table_prefix, entity_type)


def test_created_then_updated_is_one_row_with_the_latest_state(
    bound: DriverHarness, factory: MutationFactory
) -> None:
    created, updated, _ = factory.lifecycle("product")
    bound.handle_batch([created])
    first = rows(bound)[created.entity_uuid]
    bound.handle_batch([updated])

    row = rows(bound)[created.entity_uuid]
    assert row["payload"] == dict(updated.payload)
    assert (row["version"], row["operation"]) == (2, "updated")
    assert row["changed_fields"] == list(updated.changed_fields)
    assert row["event_id"] == updated.event_id
    assert row["created_at"] == first["created_at"]
    assert row["updated_at"] > first["updated_at"]
    assert row["deleted_at"] is None


def test_a_stale_or_replayed_version_never_overwrites_newer_data(
    bound: DriverHarness, factory: MutationFactory
) -> None:
    uuid = factory.uuid()
    v1, v2, v3 = (
        factory.mutation("product", "updated", {"stock": n}, entity_uuid=uuid, version=n)
        for n in (1, 2, 3)
    )
    bound.handle_batch([v3])
    before = rows(bound)[uuid]
    bound.handle_batch([v1, v2])  # stale, in a later batch
    bound.handle_batch([v3])  # the same version replayed
    bound.handle_batch([v2, v3, v1])  # out of order within a batch

    after = rows(bound)[uuid]
    assert after == before  # not even updated_at moved
    assert after["payload"] == {"stock": 3}


def test_soft_delete_keeps_a_tombstone_that_a_stale_create_cannot_revive(
    bound: DriverHarness, factory: MutationFactory
) -> None:
    created, updated, deleted = factory.lifecycle("category")
    bound.handle_batch([created, updated])
    bound.handle_batch([deleted])
    tombstone = rows(bound, "category")[created.entity_uuid]
    bound.handle_batch([created])  # replayed create, older than the delete

    row = rows(bound, "category")[created.entity_uuid]
    assert row == tombstone
    assert row["deleted_at"] is not None
    assert row["operation"] == "deleted"
    assert row["payload"] == dict(updated.payload)  # the entity as it last was
    # a genuinely newer create brings it back
    recreated = factory.mutation(
        "category", "created", {"code": "back"}, entity_uuid=created.entity_uuid, version=4
    )
    bound.handle_batch([recreated])
    assert rows(bound, "category")[created.entity_uuid]["deleted_at"] is None


def test_an_unversioned_mutation_keeps_the_stored_version_so_stale_ones_stay_out(
    bound: DriverHarness, factory: MutationFactory
) -> None:
    uuid = factory.uuid()
    bound.handle_batch(
        [factory.mutation("product", "updated", {"stock": 5}, entity_uuid=uuid, version=5)]
    )
    bound.handle_batch([factory.mutation("product", "updated", {"stock": 1}, entity_uuid=uuid)])
    row = rows(bound)[uuid]
    assert (row["payload"], row["version"]) == ({"stock": 1}, 5)  # last handled wins, v5 kept
    bound.handle_batch(
        [factory.mutation("product", "updated", {"stock": 3}, entity_uuid=uuid, version=3)]
    )
    assert rows(bound)[uuid]["payload"] == {"stock": 1}  # older than the stored v5

    # an unversioned deletion's tombstone keeps the version too: a stale create cannot revive it
    gone = factory.uuid()
    bound.handle_batch(
        [factory.mutation("product", "created", {"sku": "A"}, entity_uuid=gone, version=3)]
    )
    bound.handle_batch([factory.mutation("product", "deleted", entity_uuid=gone)])
    bound.handle_batch(
        [factory.mutation("product", "created", {"sku": "STALE"}, entity_uuid=gone, version=1)]
    )
    tombstone = rows(bound)[gone]
    assert (tombstone["payload"], tombstone["version"]) == ({"sku": "A"}, 3)
    assert tombstone["deleted_at"] is not None


def test_hard_delete_removes_the_row_unless_it_is_newer(
    database_url: str, table_prefix: str, factory: MutationFactory
) -> None:
    config = {"url": database_url, "table_prefix": table_prefix, "delete_mode": "hard"}
    with DriverHarness(SqlDriver(), config=config) as harness:
        a, b = factory.uuid(), factory.uuid()
        harness.handle_batch(
            [
                factory.mutation("family", "created", entity_uuid=a, version=1),
                factory.mutation("family", "created", entity_uuid=b, version=5),
            ]
        )
        harness.handle_batch(
            [
                factory.mutation("family", "deleted", entity_uuid=a, version=2),
                factory.mutation("family", "deleted", entity_uuid=b, version=4),  # stale
                factory.mutation("family", "deleted", entity_uuid=factory.uuid()),  # unknown
            ]
        )
        assert set(rows(harness, "family")) == {b}


def _forbid_bad_sku(database_url: str, table_prefix: str) -> None:
    """A rule of the database the payload breaks: a CHECK constraint on PostgreSQL, a trigger
    on SQLite (whose tables cannot gain constraints later). Both are the database's verdict."""
    table = table_name(table_prefix, "product")
    if database_url.startswith("postgresql"):
        statement = (
            f"ALTER TABLE {table} ADD CONSTRAINT no_bad_sku "
            f"CHECK (payload->>'sku' IS DISTINCT FROM 'BAD')"
        )
    else:
        statement = (
            f"CREATE TRIGGER no_bad_sku BEFORE INSERT ON {table} "
            f"WHEN json_extract(NEW.payload, '$.sku') = 'BAD' "
            f"BEGIN SELECT RAISE(ABORT, 'bad sku'); END"
        )
    execute(database_url, statement)


def test_one_bad_record_fails_alone_and_the_rest_is_committed(
    bound: DriverHarness, database_url: str, table_prefix: str, factory: MutationFactory
) -> None:
    _forbid_bad_sku(database_url, table_prefix)
    batch = [factory.mutation("product", "created", {"sku": f"S{i}"}, version=1) for i in range(9)]
    batch[6] = factory.mutation("product", "created", {"sku": "BAD"}, version=1)
    batch.append(factory.mutation("product", "created", {"sku": "V"}, version=2**63))

    with pytest.raises(PartialBatchError) as caught:
        bound.handle_batch(batch)

    assert set(caught.value.failures) == {6, 9}
    assert all(isinstance(e, PermanentError) for e in caught.value.failures.values())
    assert "the database rejected" in str(caught.value.failures[6])
    assert "64-bit" in str(caught.value.failures[9])
    stored = rows(bound)
    assert set(stored) == {m.entity_uuid for i, m in enumerate(batch) if i not in (6, 9)}


def test_when_the_newest_mutation_of_an_entity_is_rejected_the_older_ones_are_written(
    bound: DriverHarness, database_url: str, table_prefix: str, factory: MutationFactory
) -> None:
    _forbid_bad_sku(database_url, table_prefix)
    w, x = factory.uuid(), factory.uuid()
    batch = [
        factory.mutation("product", "created", {"sku": "W1"}, entity_uuid=w, version=1),
        factory.mutation("product", "updated", {"sku": "W2"}, entity_uuid=w, version=2),
        factory.mutation("product", "created", {"sku": "X1"}, entity_uuid=x, version=1),
        factory.mutation("product", "updated", {"sku": "BAD"}, entity_uuid=w, version=3),
        factory.mutation("product", "updated", {"sku": "BAD"}, entity_uuid=x, version=2),
    ]

    with pytest.raises(PartialBatchError) as caught:
        bound.handle_batch(batch)

    # Only the rejected ones failed; each entity is as the mutation before them left it.
    assert set(caught.value.failures) == {3, 4}
    stored = rows(bound)
    assert (stored[w]["payload"], stored[w]["version"]) == ({"sku": "W2"}, 2)
    assert (stored[x]["payload"], stored[x]["version"]) == ({"sku": "X1"}, 1)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_payload_postgresql_cannot_store_is_rejected_alone(
    bound: DriverHarness, factory: MutationFactory
) -> None:
    good = factory.mutation("product", "created", {"sku": "ok"}, version=1)
    nul = factory.mutation("product", "created", {"sku": "nul\u0000byte"}, version=1)

    with pytest.raises(PartialBatchError) as caught:
        bound.handle_batch([good, nul])

    assert list(caught.value.failures) == [1]
    assert "22P05" in str(caught.value.failures[1])  # JSONB refuses \u0000
    assert set(rows(bound)) == {good.entity_uuid}


def test_other_entity_types_get_their_own_table(
    bound: DriverHarness, database_url: str, table_prefix: str
) -> None:
    mutation = make_mutation("custom-type.v2", "created", {"code": "x"})
    bound.handle_batch([mutation])
    assert set(read_table(database_url, table_prefix, "custom-type.v2")) == {mutation.entity_uuid}


# -- failures and deadlines on the real server ---------------------------------------------


def _bind(config: Mapping[str, Any], handle_timeout_s: float = 60.0) -> DriverHarness:
    context = IntegrationContext(
        "00000000-0000-4000-8000-000000000052", "sql-test", handle_timeout_s=handle_timeout_s
    )
    return DriverHarness(SqlDriver(), config=config, context=context)


def test_a_server_that_does_not_answer_is_transient_and_open_waits_for_it() -> None:
    # Nothing listens on port 9 (discard): connection refused at once.
    config = {"url": "postgresql://iec@127.0.0.1:9/iec", "connect_timeout_s": 2}
    with _bind(config) as harness, pytest.raises(TransientError, match=r"127\.0\.0\.1:9/"):
        harness.handle_batch([make_mutation("product")])


def test_a_wrong_password_stops_the_integration_without_showing_it(postgres_url: str) -> None:
    url = postgres_url.replace("@", "-wrong@", 1)  # the password is right before the @
    harness = _bind({"url": url})
    with pytest.raises(ConfigurationError) as caught:
        harness.open()
    harness.close()
    assert "28P01" in str(caught.value)
    wrong = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value.__cause__)


def test_missing_tables_without_create_tables_name_the_setup_command(
    postgres_url: str, table_prefix: str
) -> None:
    harness = _bind({"url": postgres_url, "table_prefix": table_prefix, "create_tables": False})
    with pytest.raises(ConfigurationError, match="iec-connector setup"):
        harness.open()
    harness.close()


def test_a_locked_row_times_out_below_the_deadline_as_transient(
    postgres_url: str, table_prefix: str
) -> None:
    mutation = make_mutation("product", "created", {"sku": "locked"}, version=1)
    # Outside the runtime the deadline is the context's handle timeout from the call on.
    with _bind({"url": postgres_url, "table_prefix": table_prefix}, 1.5) as harness:
        harness.handle_batch([mutation])
        table = table_name(table_prefix, "product")
        locked, release = threading.Event(), threading.Event()

        async def hold_lock() -> None:
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine(postgres_url)
            async with engine.begin() as conn:
                await conn.execute(text(f"SELECT 1 FROM {table} FOR UPDATE"))
                locked.set()
                await asyncio.to_thread(release.wait, 30)
            await engine.dispose()

        holder = threading.Thread(target=asyncio.run, args=(hold_lock(),))
        holder.start()
        try:
            assert locked.wait(10)
            newer = make_mutation(
                "product", "updated", {"sku": "x"}, entity_uuid=mutation.entity_uuid, version=2
            )
            started = time.monotonic()
            with pytest.raises(TransientError, match="57014"):
                harness.handle_batch([newer])
            assert time.monotonic() - started < 1.5
        finally:
            release.set()
            holder.join(30)
        drop_tables(postgres_url, table_prefix, TYPES)


def test_is_registered_as_the_sql_entry_point() -> None:
    (entry,) = [e for e in entry_points(group="iec.drivers") if e.name == "sql"]
    assert entry.load() is SqlDriver
