"""SQL driver benchmark: rows/s into PostgreSQL for batches of 250.

    .venv/bin/python -m bench.sql_bench                       # 20,000 products, ~30 s
    .venv/bin/python -m bench.sql_bench --count 50000 --concurrency 4

1. A server: `IEC_POSTGRES_URL`, else the local cluster (`connector.local_postgres`, started
   if needed). Its durability settings are printed: they decide the commit cost.
2. `SqlDriver` bound as the runtime binds it, on fresh tables (prefix ``bench_<hex>_``).
3. Phases, each over `--count` realistic product mutations (~1.2 KB payload JSON) in batches
   of `--batch` (one transaction each), `--concurrency` batches in flight (as the runtime runs
   batches of different entities at once):
   insert (new rows), update (newer versions), stale replay (the updates again: the version
   check leaves every row alone).
4. The ceiling: asyncpg's COPY of the same rows into an empty table of the same shape, in
   chunks of `--batch` (the fastest way PostgreSQL takes rows; no upsert, no version check).
5. Drop the bench tables (unless ``--keep-tables``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import orjson
import typer

from connector import local_postgres
from connector.demo.catalogue import product_payload
from contracts import (
    DriverBinding,
    EntityTypes,
    IntegrationContext,
    MutationData,
    Operation,
    bind_driver,
    validate_configuration,
)
from contracts.testing import InMemoryMappingService
from drivers.sql import SqlConfig, SqlDriver, table_name

app = typer.Typer(add_completion=False, help=__doc__)

_INTEGRATION = "00000000-0000-4000-8000-0000000be0c4"


def _server_url() -> str:
    configured = os.environ.get("IEC_POSTGRES_URL")
    if configured:
        return configured
    return local_postgres.ensure_running().url()


def _mutations(count: int, version: int, seed: int = 3) -> list[MutationData]:
    rng = random.Random(seed)
    categories = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(30)]
    return [
        MutationData(
            entity_type="product",
            entity_uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            operation=Operation.CREATED if version == 1 else Operation.UPDATED,
            payload=product_payload(n, rng, categories, "family_1"),
            changed_fields=("stock", "price"),
            event_id=str(uuid.uuid4()),
            occurred_at=datetime.now(UTC),
            version=version,
        )
        for n in range(count)
    ]


def _batches(items: Sequence[MutationData], size: int) -> list[Sequence[MutationData]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def _phase(
    driver: SqlDriver, mutations: Sequence[MutationData], batch: int, concurrency: int
) -> float:
    """Seconds to write `mutations` in batches, `concurrency` batches at a time."""
    queue = list(_batches(mutations, batch))
    started = time.perf_counter()

    async def worker() -> None:
        while queue:
            await driver.handle_batch(queue.pop(0))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def _ceiling(dsn: str, table: str, mutations: Sequence[MutationData], batch: int) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE TABLE {table}_copy (LIKE {table} INCLUDING ALL)")
        now = datetime.now(UTC)
        records = [
            (
                m.entity_uuid,
                orjson.dumps(m.payload).decode(),
                m.version,
                m.operation.value,
                orjson.dumps(list(m.changed_fields)).decode(),
                m.event_id,
                m.occurred_at,
                now,
                now,
                None,
            )
            for m in mutations
        ]
        # COPY is binary: jsonb's binary form is a version byte (1) and the JSON text.
        await conn.set_type_codec(
            "jsonb",
            encoder=lambda text: b"\x01" + text.encode(),
            decoder=lambda data: data[1:].decode(),
            schema="pg_catalog",
            format="binary",
        )
        started = time.perf_counter()
        for i in range(0, len(records), batch):
            async with conn.transaction():
                await conn.copy_records_to_table(f"{table}_copy", records=records[i : i + batch])
        return time.perf_counter() - started
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {table}_copy")
        await conn.close()


async def _server_settings(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        names = ("server_version", "fsync", "synchronous_commit", "shared_buffers")
        return {name: str(await conn.fetchval(f"SHOW {name}")) for name in names}
    finally:
        await conn.close()


def _bound_driver(config: SqlConfig) -> SqlDriver:
    driver = SqlDriver()
    bind_driver(
        driver,
        DriverBinding(
            context=IntegrationContext(_INTEGRATION, "bench", handle_timeout_s=120),
            driver_type="sql",
            config=config,
            logger=logging.getLogger("bench.sql"),
            mapping_service=InMemoryMappingService(),
        ),
    )
    return driver


async def _drop(dsn: str, prefix: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for entity_type in EntityTypes.standard():
            await conn.execute(f"DROP TABLE IF EXISTS {table_name(prefix, entity_type)}")
    finally:
        await conn.close()


async def _run(count: int, batch: int, concurrency: int, keep_tables: bool) -> None:
    # 1. server
    prefix = f"bench_{secrets.token_hex(3)}_"
    config = validate_configuration(SqlConfig, {"url": _server_url(), "table_prefix": prefix})
    assert isinstance(config, SqlConfig)
    dsn = config.sqlalchemy_url().set(drivername="postgresql").render_as_string(False)
    settings = await _server_settings(dsn)
    print(f"server: {config.display_url}  " + "  ".join(f"{k}={v}" for k, v in settings.items()))
    # 2. driver
    driver = _bound_driver(config)
    await driver.open()
    inserts, updates = _mutations(count, 1), _mutations(count, 2)
    payload_bytes = sum(len(orjson.dumps(m.payload)) for m in inserts) / count
    print(
        f"{count} products, {payload_bytes:.0f} B of payload JSON each; batches of {batch}, "
        f"{concurrency} in flight\n"
    )
    batches = -(-count // batch)
    try:
        # 3. phases
        print(f"{'phase':<36}{'rows/s':>10}{'ms/batch':>10}")
        phases = (
            ("insert (new rows)", inserts),
            ("update (newer versions)", updates),
            ("stale replay (nothing written)", updates),
        )
        for name, mutations in phases:
            seconds = await _phase(driver, mutations, batch, concurrency)
            print(
                f"{name:<36}{count / seconds:>10,.0f}{seconds / batches * concurrency * 1e3:>10.1f}"
            )
        # 4. ceiling
        seconds = await _ceiling(dsn, table_name(prefix, "product"), inserts, batch)
        print(
            f"{'ceiling: asyncpg COPY, no upsert':<36}{count / seconds:>10,.0f}"
            f"{seconds / batches * 1e3:>10.1f}"
        )
    finally:
        # 5. clean up
        await driver.close()
        if not keep_tables:
            await _drop(dsn, prefix)


@app.command()
def main(
    count: int = typer.Option(20_000, help="Products per phase."),
    batch: int = typer.Option(250, help="Mutations per batch (one transaction each)."),
    concurrency: int = typer.Option(1, help="Batches in flight at once."),
    keep_tables: bool = typer.Option(False, help="Keep the bench tables."),
) -> None:
    """Rows/s of the sql driver into PostgreSQL, beside asyncpg's COPY."""
    asyncio.run(_run(count, batch, concurrency, keep_tables))


if __name__ == "__main__":
    app()
