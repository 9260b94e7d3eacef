"""End-to-end rate of the connector runtime against a plain confluent-kafka loop (the ceiling).

Run: ``.venv/bin/python -m bench.runtime_bench [--count 200000] [--profile]``.

1. Pre-publish `--count` realistic product mutations (`connector.demo.catalogue`, ~1.3 KB
   of Avro each) to a fresh topic with `--partitions` partitions, with a plain producer
   tuned for bulk (large batches, zstd like the publisher SDK).
2. Alternate, `--rounds` times each, over the same topic with a new consumer group each time:

   * **raw**: one confluent-kafka consumer (the runtime's client settings: cooperative-sticky,
     auto-commit of stored offsets) that ``consume(1000, 0.1)``\\ s, decodes every value with
     `MutationCodec`, stores the batch's offsets, and commits at the end;
   * **runtime**: `ConnectorApp` in-process with one integration whose driver does nothing
     but count (sync by default, so the thread hop of a real sync driver is included).

   Each is timed from its start until all records are decoded (raw) or handled (runtime), and
   also without its fixed start-up (until the first record arrives: topic checks, mapping
   restore, group join, first fetch), which is the rate that matters for a long-running
   process.
3. Print best and median rates, their ratios and the CPU time per record (all threads,
   from the first record to the last). Targets: runtime >= 0.85x raw, <= 12 µs CPU/record.
4. With ``--profile``, one more runtime round under pyinstrument (the ``bench`` extra) or
   cProfile: where the event loop's thread spends its time.

Every run uses its own topic prefix (``bench-<time>-<hex>``) and deletes its topics at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import logging
import os
import pstats
import random
import secrets
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from prometheus_client import Counter as PromCounter

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

TARGET = 0.85
CPU_TARGET_US = 12.0
_CONSUME_BATCH = 1000
_CONSUME_TIMEOUT_S = 0.1
_TIMEOUT_S = 600.0


# ----------------------------------------------------------------------------- records --
def _mutations(count: int, seed: int = 11) -> tuple[list[bytes], list[bytes]]:
    """Keys and values of product mutations, each with its own entity (the key) and payload."""
    rng = random.Random(seed)
    codec = MutationCodec()
    categories = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(30)]
    families = [f"family_{i}" for i in range(5)]
    keys: list[bytes] = []
    values: list[bytes] = []
    for n in range(count):
        entity = str(uuid.UUID(int=rng.getrandbits(128)))
        keys.append(entity.encode())
        values.append(
            codec.encode(
                MutationData(
                    entity_type="product",
                    entity_uuid=entity,
                    operation=Operation.CREATED if n % 4 else Operation.UPDATED,
                    payload=product_payload(n, rng, categories, rng.choice(families)),
                    changed_fields=("stock", "price"),
                    event_id=str(uuid.UUID(int=rng.getrandbits(128))),
                    version=1,
                )
            )
        )
    return keys, values


def _prepublish(
    client_config: dict[str, str], topic: str, values: list[bytes], keys: list[bytes]
) -> float:
    """Bulk produce (seconds taken); raises if any record is not acknowledged."""
    failures: list[str] = []

    def on_delivery(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    producer = Producer(
        {
            **client_config,
            "acks": "1",
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "compression.type": "zstd",
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
        }
    )
    started = time.perf_counter()
    for key, value in zip(keys, values, strict=True):
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120):
        raise RuntimeError("pre-publishing: records still unacknowledged after 120 s")
    if failures:
        raise RuntimeError(f"pre-publishing: {len(failures)} failed, e.g. {failures[0]}")
    return time.perf_counter() - started


# ----------------------------------------------------------------------------- measure --
@dataclass(frozen=True, slots=True)
class Measurement:
    name: str
    count: int
    total_s: float
    """From the start (client created / `run()` called) until the last record was done."""
    startup_s: float
    """From the start until the first record was fetched."""
    cpu_s: float = 0.0
    """Process CPU time (every thread: librdkafka's, the event loop's, the driver's) from the
    first record until the last was done."""

    @property
    def rate(self) -> float:
        """Records per second after start-up (the steady rate)."""
        return self.count / (self.total_s - self.startup_s)

    @property
    def rate_with_startup(self) -> float:
        return self.count / self.total_s

    @property
    def cpu_us_per_record(self) -> float:
        return self.cpu_s / self.count * 1e6


def _raw_loop(client_config: dict[str, str], topic: str, group: str, count: int) -> Measurement:
    """The ceiling: consume, decode every value, store offsets per batch; commit at the end."""
    codec = MutationCodec()
    decode = codec.decode
    first_at: float | None = None
    started = time.perf_counter()
    consumer = Consumer(
        {
            **client_config,
            "group.id": group,
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            "partition.assignment.strategy": "cooperative-sticky",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    done = 0
    first_cpu = 0.0
    deadline = started + _TIMEOUT_S
    try:
        while done < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"raw loop: {done} of {count} after {_TIMEOUT_S:g} s")
            messages = consumer.consume(_CONSUME_BATCH, _CONSUME_TIMEOUT_S)
            if not messages:
                continue
            if first_at is None:
                first_at = time.perf_counter()
                first_cpu = time.process_time()
            last: dict[tuple[Any, Any], Any] = {}
            for message in messages:
                if message.error() is not None:
                    continue
                decode(message.value())
                last[(message.topic(), message.partition())] = message.offset()
            consumer.store_offsets(
                offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
            )
            done += len(messages)
        finished = time.perf_counter()
        cpu = time.process_time() - first_cpu
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    assert first_at is not None
    return Measurement("raw", done, finished - started, first_at - started, cpu)


class _Tally:
    """What the no-op driver counts; one per runtime round."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.handled = 0
        self.finished_at: float | None = None
        self.finished_cpu = 0.0
        self.done = threading.Event()

    def add(self, n: int) -> None:
        self.handled += n
        if self.handled >= self.target and self.finished_at is None:
            self.finished_at = time.perf_counter()
            self.finished_cpu = time.process_time()
            self.done.set()


class NoopDriver(AbstractDriver):
    """Counts what it is given and does nothing else."""

    supported_entity_types = ("product",)
    tally: ClassVar[_Tally] = _Tally(0)

    def get_name(self) -> str:
        return "No-op (benchmark)"

    def get_type(self) -> str:
        return "noop"

    def get_version(self) -> str:
        return "1.0.0"

    def get_configuration_schema(self) -> ConfigurationSchema:
        return {}

    def handle(self, mutation: MutationData) -> None:
        self.tally.add(1)

    def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        self.tally.add(len(mutations))


class AsyncNoopDriver(NoopDriver):
    """The same, awaited on the event loop (no thread hop)."""

    def get_type(self) -> str:
        return "noop-async"

    async def handle_batch(self, mutations: Sequence[MutationData]) -> None:  # type: ignore[override]
        self.tally.add(len(mutations))


REGISTRY = DriverRegistry.from_classes({"noop": NoopDriver, "noop-async": AsyncNoopDriver})


def _runtime_settings(
    bootstrap: str, prefix: str, batch: BatchSettings, driver: str
) -> ConnectorSettings:
    return ConnectorSettings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap, client_id="iec-runtime-bench"),
        topics=TopicSettings(
            mutation_prefix=f"{prefix}.mutations",
            mapping_prefix=f"{prefix}.mappings",
            dead_letter_prefix=f"{prefix}.dead-letters",
            retry_prefix=f"{prefix}.retry",
            group_prefix=f"{prefix}.group",
            create_missing=True,
        ),
        metrics=MetricsSettings(host="127.0.0.1", port=0),
        runtime=RuntimeSettings(log_level="WARNING"),
        integrations=[
            IntegrationSettings(
                uuid=str(uuid.uuid4()),
                name="bench",
                driver=driver,
                entity_types=["product"],
                batch=batch,
            )
        ],
    )


async def _runtime_round(settings: ConnectorSettings, count: int) -> Measurement:
    tally = _Tally(count)
    NoopDriver.tally = tally
    configs, problems = check_integrations(settings, REGISTRY)
    if problems:
        raise RuntimeError(f"bench configuration: {problems}")
    app = ConnectorApp(settings, REGISTRY, configs, install_signal_handlers=False)
    consumed = app.metrics.records_consumed
    integration = settings.integrations[0].uuid
    started = time.perf_counter()
    task = asyncio.create_task(app.run())
    first_at: float | None = None
    first_cpu = 0.0
    deadline = started + _TIMEOUT_S
    while not tally.done.is_set():
        if task.done():
            await task
            raise RuntimeError(f"the runtime stopped after {tally.handled} of {count}")
        if time.perf_counter() > deadline:
            raise TimeoutError(f"runtime: {tally.handled} of {count} after {_TIMEOUT_S:g} s")
        if first_at is None and _consumed(consumed, integration):
            first_at = time.perf_counter()
            first_cpu = time.process_time()
        # Fine-grained until the first record (it ends the start-up), then coarse.
        await asyncio.sleep(0.002 if first_at is None else 0.05)
    finished = tally.finished_at
    assert finished is not None
    app.request_stop()
    await asyncio.wait_for(task, 60)
    return Measurement(
        "runtime",
        tally.handled,
        finished - started,
        (first_at or started) - started,
        tally.finished_cpu - first_cpu,
    )


def _consumed(counter: PromCounter, integration: str) -> bool:
    """Whether the integration has fetched a record yet (its consumed counter is non-zero)."""
    return any(
        sample.value > 0
        for family in counter.collect()
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("integration") == integration
    )


# ----------------------------------------------------------------------------- report ---
def _summarise(name: str, runs: list[Measurement]) -> tuple[float, float]:
    rates = [m.rate for m in runs]
    with_startup = [m.rate_with_startup for m in runs]
    best, median = max(rates), statistics.median(rates)
    cpu = statistics.median([m.cpu_us_per_record for m in runs])
    print(
        f"{name:<8} best {best:>9,.0f}/s  median {median:>9,.0f}/s  CPU {cpu:5.1f} µs/record   "
        f"with start-up: best {max(with_startup):>9,.0f}/s  "
        f"median {statistics.median(with_startup):>9,.0f}/s  "
        f"(start-up {statistics.median([m.startup_s for m in runs]):.2f} s)"
    )
    return best, median


def _profile(run: Callable[[], Any], top: int) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        profiler = cProfile.Profile()
        profiler.enable()
        run()
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
        print(out.getvalue())
        return
    sampler = Profiler(interval=0.0005, async_mode="disabled")
    sampler.start()
    run()
    sampler.stop()
    print(sampler.output_text(unicode=True, color=False, show_all=False, short_mode=False))


def _delete_topics(admin: AdminClient, prefix: str) -> None:
    names = [name for name in admin.list_topics(timeout=30).topics if name.startswith(prefix)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result(timeout=60)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.runtime_bench",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--count", type=int, default=200_000, help="records (default 200000)")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each, alternating")
    parser.add_argument("--max-records", type=int, default=BatchSettings().max_records)
    parser.add_argument("--linger-ms", type=int, default=BatchSettings().linger_ms)
    parser.add_argument("--async-driver", action="store_true", help="await an async no-op")
    parser.add_argument(
        "--gc-tuned",
        action="store_true",
        help="gc.freeze() and a gen-0 threshold of 50000 before the rounds (a proposal)",
    )
    parser.add_argument("--profile", action="store_true", help="profile one more runtime round")
    parser.add_argument("--profile-only", action="store_true", help="skip the measured rounds")
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("iec").setLevel(logging.ERROR)  # e.g. "created topic" lines

    if args.gc_tuned:
        gc.freeze()
        gc.set_threshold(50_000, 20, 10)
    prefix = f"bench-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    client_config = KafkaSettings(bootstrap_servers=args.bootstrap_servers).client_config()
    admin = AdminClient(dict(client_config))
    topic = f"{prefix}.mutations.product"
    batch = BatchSettings(max_records=args.max_records, linger_ms=args.linger_ms)
    driver = "noop-async" if args.async_driver else "noop"
    print(
        f"runtime bench: {args.count:,} product mutations, {args.partitions} partitions, "
        f"batches of {batch.max_records} (linger {batch.linger_ms} ms), driver {driver}, "
        f"topic {topic}"
    )
    try:
        # 1. pre-publish
        admin.create_topics(
            [NewTopic(topic, num_partitions=args.partitions, replication_factor=1)]
        )[topic].result(timeout=30)
        started = time.perf_counter()
        keys, values = _mutations(args.count)
        encoded_s = time.perf_counter() - started
        published_s = _prepublish(client_config, topic, values, keys)
        size = sum(len(v) for v in values) / len(values)
        print(
            f"pre-published in {encoded_s:.1f} s (encode) + {published_s:.1f} s (produce), "
            f"{size:,.0f} bytes per value"
        )
        del values, keys
        # 2. alternate
        raw: list[Measurement] = []
        runtime: list[Measurement] = []
        for i in range(0 if args.profile_only else args.rounds):
            raw.append(_raw_loop(client_config, topic, f"{prefix}.raw-{i}", args.count))
            print(
                f"  round {i + 1}: raw     {raw[-1].rate:>9,.0f}/s  "
                f"CPU {raw[-1].cpu_us_per_record:5.1f} µs/record",
                flush=True,
            )
            settings = _runtime_settings(args.bootstrap_servers, prefix, batch, driver)
            runtime.append(asyncio.run(_runtime_round(settings, args.count)))
            print(
                f"  round {i + 1}: runtime {runtime[-1].rate:>9,.0f}/s  "
                f"CPU {runtime[-1].cpu_us_per_record:5.1f} µs/record",
                flush=True,
            )
        # 3. report
        if raw:
            raw_best, raw_median = _summarise("raw", raw)
            rt_best, rt_median = _summarise("runtime", runtime)
            ratio = rt_median / raw_median
            print(
                f"ratio runtime/raw: best {rt_best / raw_best:.2f}x, median {ratio:.2f}x "
                f"(target {TARGET}x): {'OK' if ratio >= TARGET else 'BELOW TARGET'}"
            )
            cpu = statistics.median([m.cpu_us_per_record for m in runtime])
            print(
                f"runtime CPU per record (all threads): {cpu:.1f} µs "
                f"(target <= {CPU_TARGET_US:g}): {'OK' if cpu <= CPU_TARGET_US else 'ABOVE TARGET'}"
            )
        # 4. profile
        if args.profile or args.profile_only:
            settings = _runtime_settings(args.bootstrap_servers, prefix, batch, driver)
            print("\nprofile of one runtime round (event-loop thread):")
            _profile(lambda: asyncio.run(_runtime_round(settings, args.count)), top=40)
    finally:
        _delete_topics(admin, prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
