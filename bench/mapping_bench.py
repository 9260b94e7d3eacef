"""Mapping store benchmark: publish N mappings, restore them, measure memory and `find`.

    .venv/bin/python -m bench.mapping_bench --count 1000000

1. Publish N mapping records (4 entity types, UUID keys, 10 % with external data) to a new
   compacted topic with a batching producer.
2. In a fresh interpreter (so the figures are the store's alone): restore the topic with
   `KafkaMappingStore.start`, then measure resident memory per mapping, `find` latency (cold:
   first lookup of a key, decoded; hot: cached; miss), and the three ways to write durably:
   `create` one after another, `create_many` of 250 (one wait per call), and `acreate` from
   64 concurrent tasks on one event loop (their writes share librdkafka's batches).
3. Print the figures and delete the topic (unless ``--keep-topic``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import logging
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import typer

from connector.kafka import new_admin, new_producer
from connector.mapping_store import KafkaMappingStore, MappingRecord, encode_record, mapping_key
from contracts import NewMapping

app = typer.Typer(add_completion=False, help=__doc__)

_ENTITY_TYPES = ("product", "category", "attribute", "family")
_INTEGRATION = "00000000-0000-4000-8000-00000000bench"
_LOG = logging.getLogger("bench.mapping")


def _entities(count: int, seed: int = 7) -> Iterator[tuple[str, str]]:
    """The same (entity_type, uuid) sequence in the publisher and the measuring process."""
    rng = random.Random(seed)
    for i in range(count):
        yield _ENTITY_TYPES[i % 4], str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _trimmed_rss() -> int:
    """RSS after a collection and after returning freed heap pages to the OS (glibc)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return _rss_bytes()


def _publish(bootstrap: str, topic: str, count: int) -> float:
    # Fire-and-forget with a large linger: the fastest way to fill the topic.
    producer = new_producer(
        {"bootstrap.servers": bootstrap},
        logger=_LOG,
        settings={
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "partitioner": "murmur2_random",
            "queue.buffering.max.messages": 500_000,
        },
    )
    now_ms = int(time.time() * 1000)
    failures: list[str] = []

    def on_delivery(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    started = time.perf_counter()
    for i, (entity_type, entity_uuid) in enumerate(_entities(count)):
        data = {"sku": f"SKU-{i}", "store": 1} if i % 10 == 0 else None
        value = encode_record(MappingRecord(str(100_000 + i), data, now_ms, now_ms))
        key = mapping_key(entity_type, entity_uuid)
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - started
    if remaining or failures:
        raise RuntimeError(f"publish failed: {remaining} unsent, errors: {failures[:3]}")
    return elapsed


def _percentiles(prefix: str, samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        f"{prefix}_p50_ms": ordered[len(ordered) // 2],
        f"{prefix}_p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)],
    }


def _measure_writes(store: KafkaMappingStore, tasks: int, per_task: int) -> dict[str, float]:
    """Serial `create`, `create_many(250)` and concurrent `acreate`: rate and latency."""
    figures: dict[str, float] = {}
    # Serial: each create waits for its own acknowledgement.
    serial_ms = []
    started = time.perf_counter()
    for i in range(500):
        t0 = time.perf_counter_ns()
        store.create("product", f"serial-{i}", _INTEGRATION, f"ext-{i}", {"n": i})
        serial_ms.append((time.perf_counter_ns() - t0) / 1e6)
    figures["create_rate"] = 500 / (time.perf_counter() - started)
    figures |= _percentiles("create", serial_ms)
    # Bulk: 250 mappings per call, one wait.
    flushes_before = store.writer.flushes
    bulk_ms = []
    started = time.perf_counter()
    for round_ in range(40):
        batch = [
            NewMapping("product", f"bulk-{round_}-{i}", f"ext-{i}", {"n": i}) for i in range(250)
        ]
        t0 = time.perf_counter_ns()
        store.create_many(batch, _INTEGRATION)
        bulk_ms.append((time.perf_counter_ns() - t0) / 1e6)
    figures["create_many_rate"] = 40 * 250 / (time.perf_counter() - started)
    figures["create_many_flushes_per_call"] = (store.writer.flushes - flushes_before) / 40
    figures |= _percentiles("create_many", bulk_ms)

    # Concurrent: `tasks` coroutines, each awaiting `per_task` acreate calls in turn.
    async def run() -> tuple[float, list[float]]:
        latencies: list[float] = []

        async def task(n: int) -> None:
            for i in range(per_task):
                t0 = time.perf_counter_ns()
                await store.acreate("category", f"task-{n}-{i}", _INTEGRATION, f"ext-{i}", None)
                latencies.append((time.perf_counter_ns() - t0) / 1e6)

        await store.acreate("category", "warm-up", _INTEGRATION, "ext", None)
        t0 = time.perf_counter()
        await asyncio.gather(*(task(n) for n in range(tasks)))
        return time.perf_counter() - t0, latencies

    flushes_before = store.writer.flushes
    seconds, concurrent_ms = asyncio.run(run())
    figures["acreate_rate"] = tasks * per_task / seconds
    figures["acreate_per_flush"] = (tasks * per_task + 1) / (store.writer.flushes - flushes_before)
    figures |= _percentiles("acreate", concurrent_ms)
    return figures


def _measure(bootstrap: str, topic: str, count: int, tasks: int) -> dict[str, Any]:
    """Runs in a fresh interpreter: restore, memory, find and create latency."""
    store = KafkaMappingStore(
        integration_uuid=_INTEGRATION, topic=topic, client_config={"bootstrap.servers": bootstrap}
    )
    sample_count = min(count, 20_000)
    rng = random.Random(11)
    picks = sorted(rng.sample(range(count), sample_count))
    sample: list[tuple[str, str]] = []
    wanted = iter(picks)
    target = next(wanted, None)
    for i, entity in enumerate(_entities(count)):
        if i == target:
            sample.append(entity)
            target = next(wanted, None)
    rng.shuffle(sample)
    baseline = _trimmed_rss()

    store.start(timeout_s=600, create_topic=False)
    restore_s = store.restore_seconds or 0.0
    rss_after = _rss_bytes()
    rss_trimmed = _trimmed_rss()
    mappings = store.count()
    view: Any = store._view  # the benchmark looks inside on purpose: structure size
    values: dict[bytes, bytes] = view._values
    structure = sys.getsizeof(values) + sum(
        sys.getsizeof(k) + sys.getsizeof(v) for k, v in values.items()
    )

    find = store.find
    # Cold: first lookup of each key (decode + cache insert); the cache holds 16k entries.
    cold = sample[:10_000]
    t0 = time.perf_counter_ns()
    for entity_type, entity_uuid in cold:
        find(entity_type, entity_uuid, _INTEGRATION)
    cold_ns = (time.perf_counter_ns() - t0) / len(cold)
    # Hot: keys already decoded, 200k lookups.
    hot = cold[:2_000] * 100
    t0 = time.perf_counter_ns()
    for entity_type, entity_uuid in hot:
        find(entity_type, entity_uuid, _INTEGRATION)
    hot_ns = (time.perf_counter_ns() - t0) / len(hot)
    misses = [("product", str(uuid.uuid4())) for _ in range(2_000)] * 50
    t0 = time.perf_counter_ns()
    for entity_type, entity_uuid in misses:
        find(entity_type, entity_uuid, _INTEGRATION)
    miss_ns = (time.perf_counter_ns() - t0) / len(misses)
    # Loop overhead alone, to subtract by eye.
    t0 = time.perf_counter_ns()
    for _entity_type, _entity_uuid in hot:
        pass
    loop_ns = (time.perf_counter_ns() - t0) / len(hot)

    writes = _measure_writes(store, tasks, per_task=40)
    store.close()
    return {
        "mappings": mappings,
        "records_read": store.restored_records,
        "restore_s": restore_s,
        "restore_rate": store.restored_records / restore_s if restore_s else 0.0,
        "rss_baseline_mb": baseline / 2**20,
        "rss_bytes_per_mapping": (rss_after - baseline) / max(mappings, 1),
        "rss_trimmed_bytes_per_mapping": (rss_trimmed - baseline) / max(mappings, 1),
        "structure_bytes_per_mapping": structure / max(mappings, 1),
        "find_cold_ns": cold_ns,
        "find_hot_ns": hot_ns,
        "find_miss_ns": miss_ns,
        "loop_overhead_ns": loop_ns,
        **writes,
    }


@app.command()
def main(
    count: int = typer.Option(1_000_000, help="Mappings to publish and restore."),
    bootstrap_servers: str = typer.Option(
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"), help="Kafka bootstrap."
    ),
    topic: str = typer.Option("", help="Use this existing topic (skips publishing)."),
    keep_topic: bool = typer.Option(False, help="Don't delete the topic at the end."),
    tasks: int = typer.Option(64, help="Concurrent tasks for the acreate figure."),
    measure_only: bool = typer.Option(False, hidden=True, help="Internal: the measuring child."),
) -> None:
    """Publish, restore in a fresh process, print restore rate, B/mapping, find latency."""
    if measure_only:
        print(json.dumps(_measure(bootstrap_servers, topic, count, tasks)))
        return
    client: dict[str, str | int | float | bool] = {"bootstrap.servers": bootstrap_servers}
    created = not topic
    if created:
        topic = f"bench.mappings.{uuid.uuid4().hex[:12]}"
        setup = KafkaMappingStore(integration_uuid=_INTEGRATION, topic=topic, client_config=client)
        setup.ensure_topic(create=True)
        seconds = _publish(bootstrap_servers, topic, count)
        print(
            f"published {count:,} mappings to {topic} in {seconds:.1f} s ({count / seconds:,.0f}/s)"
        )
    try:
        child = subprocess.run(
            [sys.executable, "-m", "bench.mapping_bench", "--measure-only", "--count", str(count),
             "--topic", topic, "--bootstrap-servers", bootstrap_servers, "--tasks", str(tasks)],
            capture_output=True, text=True,
        )  # fmt: skip
        if child.returncode != 0:
            sys.stderr.write(child.stderr)
            raise typer.Exit(1)
        figures = json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        if created and not keep_topic:
            admin = new_admin(client, logger=_LOG)
            admin.delete_topics([topic])[topic].result(timeout=60)
    f = figures
    print(
        f"restore: {f['mappings']:,} mappings ({f['records_read']:,} records) in "
        f"{f['restore_s']:.2f} s = {f['restore_rate']:,.0f} records/s"
    )
    print(
        f"memory:  {f['rss_bytes_per_mapping']:.0f} B/mapping resident "
        f"({f['rss_trimmed_bytes_per_mapping']:.0f} after malloc_trim; structure "
        f"{f['structure_bytes_per_mapping']:.0f}); baseline {f['rss_baseline_mb']:.0f} MiB"
    )
    print(
        f"find:    hot {f['find_hot_ns']:.0f} ns, cold {f['find_cold_ns']:.0f} ns, "
        f"miss {f['find_miss_ns']:.0f} ns (loop overhead {f['loop_overhead_ns']:.0f} ns)"
    )
    print("writes (acks=all, durable on return):")
    for label, name in [
        ("create, one after another", "create"),
        ("create_many(250)", "create_many"),
        (f"acreate, {tasks} tasks", "acreate"),
    ]:
        print(
            f"  {label:<26} {f[name + '_rate']:8,.0f} mappings/s, "
            f"p50 {f[name + '_p50_ms']:.2f} ms, p99 {f[name + '_p99_ms']:.2f} ms per call"
        )
    print(
        f"  create_many: {f['create_many_flushes_per_call']:g} flush per call; acreate: "
        f"{f['acreate_per_flush']:.1f} mappings per flush (calls of one loop iteration)"
    )


if __name__ == "__main__":
    app()
