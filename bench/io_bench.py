"""Key-ordered concurrency for drivers that wait: records/s at concurrency 1, 4, 16 and 64.

Run: ``.venv/bin/python -m bench.io_bench [--count 50000] [--latency-ms 10]``.

1. Pre-publish `--count` product mutations of `--entities` entities (each entity's versions
   1, 2, 3, … in order, spread over `--partitions` partitions by key) to a fresh topic.
2. For each driver flavour (an ``async`` driver and a sync one, both implementing only
   `handle`, the seed's pattern, whose downstream takes `--latency-ms` per call) and each
   concurrency, run `ConnectorApp` in-process with a new consumer group over the topic until
   every record is handled or `--window` seconds have passed since the first one.
3. In the same run, check every entity's order: the versions handled for an entity must be
   1, 2, 3, … with no gap and no repeat (nothing fails here, so nothing is retried).
4. Print records/s, the speed-up over concurrency 1 and its share of the ideal
   (concurrency x the serial rate). Target: ≥ 0.8 of the ideal until the CPU is the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from bench.runtime_bench import _delete_topics, _prepublish
from connector.codec import MutationCodec
from connector.config import (
    BatchSettings,
    ConnectorSettings,
    IntegrationSettings,
    KafkaSettings,
    MetricsSettings,
    RuntimeSettings,
    check_integrations,
)
from connector.demo.catalogue import product_payload
from connector.driver_registry import DriverRegistry
from connector.runtime.app import ConnectorApp
from connector.topics import TopicSettings
from contracts import AbstractDriver, ConfigurationSchema, MutationData, Operation

TARGET = 0.8
_START_TIMEOUT_S = 120.0


class _Log:
    """What the drivers saw, shared by their threads (list.append is atomic in CPython)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.seen: list[tuple[str, int]] = []
        self.first_at: float | None = None
        self.done = threading.Event()

    def add(self, uuid_: str, version: int) -> None:
        if self.first_at is None:
            self.first_at = time.perf_counter()
        self.seen.append((uuid_, version))
        if len(self.seen) >= self.target:
            self.done.set()


class SleepyDriver(AbstractDriver):
    """Sync, `handle` only: each call waits `latency_s` for its downstream."""

    supported_entity_types = ("product",)
    log: ClassVar[_Log] = _Log(0)
    latency_s: ClassVar[float] = 0.01

    def get_name(self) -> str:
        return "Sleepy (benchmark)"

    def get_type(self) -> str:
        return "sleepy"

    def get_version(self) -> str:
        return "1.0.0"

    def get_configuration_schema(self) -> ConfigurationSchema:
        return {}

    def handle(self, mutation: MutationData) -> None:
        time.sleep(self.latency_s)
        self.log.add(mutation.entity_uuid, mutation.version or 0)


class AsyncSleepyDriver(SleepyDriver):
    """The same, ``async``: the wait is awaited on the event loop."""

    def get_type(self) -> str:
        return "sleepy-async"

    async def handle(self, mutation: MutationData) -> None:  # type: ignore[override]
        await asyncio.sleep(self.latency_s)
        self.log.add(mutation.entity_uuid, mutation.version or 0)


REGISTRY = DriverRegistry.from_classes({"sleepy": SleepyDriver, "sleepy-async": AsyncSleepyDriver})


def _mutations(count: int, entities: int, seed: int = 5) -> tuple[list[bytes], list[bytes]]:
    rng = random.Random(seed)
    codec = MutationCodec()
    uuids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(entities)]
    categories = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(30)]
    keys: list[bytes] = []
    values: list[bytes] = []
    for n in range(count):
        entity = uuids[n % entities]
        version = n // entities + 1
        keys.append(entity.encode())
        values.append(
            codec.encode(
                MutationData(
                    entity_type="product",
                    entity_uuid=entity,
                    operation=Operation.CREATED if version == 1 else Operation.UPDATED,
                    payload=product_payload(n, rng, categories, "family_0"),
                    changed_fields=("stock",),
                    version=version,
                )
            )
        )
    return keys, values


@dataclass(frozen=True, slots=True)
class Result:
    driver: str
    concurrency: int
    handled: int
    seconds: float
    order_ok: bool
    problems: int

    @property
    def rate(self) -> float:
        return self.handled / self.seconds if self.seconds > 0 else 0.0


def _order_problems(seen: list[tuple[str, int]]) -> int:
    """Entities whose handled versions are not 1, 2, 3, … (gaps, repeats, reordering)."""
    by_entity: dict[str, list[int]] = {}
    for entity, version in seen:
        by_entity.setdefault(entity, []).append(version)
    return sum(
        1 for versions in by_entity.values() if versions != list(range(1, len(versions) + 1))
    )


def _settings(bootstrap: str, prefix: str, driver: str, concurrency: int) -> ConnectorSettings:
    return ConnectorSettings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap, client_id="iec-io-bench"),
        topics=TopicSettings(
            mutation_prefix=f"{prefix}.mutations",
            mapping_prefix=f"{prefix}.mappings",
            dead_letter_prefix=f"{prefix}.dead-letters",
            retry_prefix=f"{prefix}.retry",
            group_prefix=f"{prefix}.group",
            create_missing=True,
        ),
        metrics=MetricsSettings(enabled=False),
        runtime=RuntimeSettings(log_level="WARNING"),
        integrations=[
            IntegrationSettings(
                uuid=str(uuid.uuid4()),
                name=f"io-{driver}-{concurrency}",
                driver=driver,
                entity_types=["product"],
                batch=BatchSettings(),
                concurrency=concurrency,
            )
        ],
    )


async def _round(settings: ConnectorSettings, count: int, window_s: float) -> Result:
    log = _Log(count)
    SleepyDriver.log = log
    configs, problems = check_integrations(settings, REGISTRY)
    if problems:
        raise RuntimeError(f"bench configuration: {problems}")
    app = ConnectorApp(settings, REGISTRY, configs, install_signal_handlers=False)
    task = asyncio.create_task(app.run())
    started = time.perf_counter()
    while not log.done.is_set():
        if task.done():
            await task
            raise RuntimeError(f"the runtime stopped after {len(log.seen)} of {count}")
        now = time.perf_counter()
        if log.first_at is None and now - started > _START_TIMEOUT_S:
            raise TimeoutError("nothing handled within the start timeout")
        if log.first_at is not None and now - log.first_at >= window_s:
            break
        await asyncio.sleep(0.02)
    end = time.perf_counter()
    handled = len(log.seen)
    seen = list(log.seen)
    app.request_stop()
    await asyncio.wait_for(task, 120)
    integration = settings.integrations[0]
    problems_n = _order_problems(seen)
    assert log.first_at is not None
    return Result(
        integration.driver,
        integration.concurrency,
        handled,
        end - log.first_at,
        problems_n == 0,
        problems_n,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.io_bench",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--drivers", nargs="+", default=["sleepy-async", "sleepy"])
    parser.add_argument(
        "--window", type=float, default=20.0, help="seconds of handling per round at most"
    )
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("iec").setLevel(logging.ERROR)
    SleepyDriver.latency_s = args.latency_ms / 1000

    prefix = f"bench-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    client_config = KafkaSettings(bootstrap_servers=args.bootstrap_servers).client_config()
    admin = AdminClient(dict(client_config))
    topic = f"{prefix}.mutations.product"
    print(
        f"io bench: {args.count:,} mutations of {args.entities:,} entities, "
        f"{args.partitions} partitions, downstream {args.latency_ms:g} ms per call, "
        f"rounds of at most {args.window:g} s, topic {topic}"
    )
    ok = True
    try:
        admin.create_topics(
            [NewTopic(topic, num_partitions=args.partitions, replication_factor=1)]
        )[topic].result(timeout=30)
        keys, values = _mutations(args.count, args.entities)
        _prepublish(client_config, topic, values, keys)
        del keys, values
        for driver in args.drivers:
            results: list[Result] = []
            for concurrency in args.concurrency:
                settings = _settings(args.bootstrap_servers, prefix, driver, concurrency)
                result = asyncio.run(_round(settings, args.count, args.window))
                results.append(result)
                serial = results[0].rate / results[0].concurrency
                ideal = serial * concurrency
                share = result.rate / ideal if ideal else 0.0
                order = "order ok" if result.order_ok else f"ORDER BROKEN ({result.problems})"
                print(
                    f"  {driver:<13} concurrency {concurrency:>3}: {result.rate:>8,.0f}/s "
                    f"({result.handled:,} in {result.seconds:.1f} s)  "
                    f"x{result.rate / results[0].rate:>5.1f} of serial, "
                    f"{share:.2f} of ideal  {order}",
                    flush=True,
                )
                ok = ok and result.order_ok
    finally:
        _delete_topics(admin, prefix)
    verdict = "held in every round" if ok else "BROKEN"
    print(f"per-entity order: {verdict}; target {TARGET} of ideal")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
