"""Mapping store benchmark: publish N mappings, restore them, measure memory and `find`.

    .venv/bin/python -m bench.mapping_bench --count 1000000

1. Publish N mapping records (4 entity types, UUID keys, 10 % with external data) to a new
   compacted topic with a batching producer.
2. In a fresh interpreter (so the figures are the store's alone): restore the topic with
   `KafkaMappingStore.start`, then measure resident memory per mapping, `find` latency (cold:
   first lookup of a key, decoded; hot: cached; miss) and synchronous `create` latency.
3. Print the figures and delete the topic (unless ``--keep-topic``).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import typer
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from connector.mapping_store import KafkaMappingStore, MappingRecord, encode_record, mapping_key

app = typer.Typer(add_completion=False, help=__doc__)

_ENTITY_TYPES = ("product", "category", "attribute", "family")
_INTEGRATION = "00000000-0000-4000-8000-00000000bench"


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
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "partitioner": "murmur2_random",
            "queue.buffering.max.messages": 500_000,
        }
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


def _measure(bootstrap: str, topic: str, count: int) -> dict[str, Any]:
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

    write_ms = []
    for i in range(200):
        t0 = time.perf_counter_ns()
        store.create("product", f"bench-{i}", _INTEGRATION, f"ext-{i}", {"n": i})
        write_ms.append((time.perf_counter_ns() - t0) / 1e6)
    write_ms.sort()
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
        "create_p50_ms": write_ms[len(write_ms) // 2],
        "create_p99_ms": write_ms[int(len(write_ms) * 0.99) - 1],
    }


@app.command()
def main(
    count: int = typer.Option(1_000_000, help="Mappings to publish and restore."),
    bootstrap_servers: str = typer.Option(
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"), help="Kafka bootstrap."
    ),
    topic: str = typer.Option("", help="Use this existing topic (skips publishing)."),
    keep_topic: bool = typer.Option(False, help="Don't delete the topic at the end."),
    measure_only: bool = typer.Option(False, hidden=True, help="Internal: the measuring child."),
) -> None:
    """Publish, restore in a fresh process, print restore rate, B/mapping, find latency."""
    if measure_only:
        print(json.dumps(_measure(bootstrap_servers, topic, count)))
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
             "--topic", topic, "--bootstrap-servers", bootstrap_servers],
            capture_output=True, text=True,
        )  # fmt: skip
        if child.returncode != 0:
            sys.stderr.write(child.stderr)
            raise typer.Exit(1)
        figures = json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        if created and not keep_topic:
            admin = AdminClient(client)
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
    print(f"create:  p50 {f['create_p50_ms']:.2f} ms, p99 {f['create_p99_ms']:.2f} ms "
          "(acks=all, synchronous)")  # fmt: skip


if __name__ == "__main__":
    app()
