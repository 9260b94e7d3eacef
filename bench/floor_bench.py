"""What any Python runtime on this stack must spend per record: the floor under the runtime bench.

Run: ``.venv/bin/python -m bench.floor_bench [--count 100000] [--rounds 3]``.

`bench/runtime_bench.py` compares the runtime with a raw loop. This one asks how low either
could go, with the libraries the connector uses (confluent-kafka, fastavro, pydantic):

1. In-process, no Kafka, over the same values (best of 5 tight loops): fastavro's
   `schemaless_reader` alone, and `MutationCodec.decode` (framing, fastavro, the lazy payload
   and the validated `MutationData`) with what it adds to fastavro. If `cavro` (a Cython
   Avro codec; ``pip install cavro``, not a dependency) is importable, its ``binary_decode``
   of the same bodies too.
2. Pre-publish `--count` realistic product mutations (as the runtime bench does) and
   alternate, `--rounds` times, each loop with a new consumer group:

   * **consume**: ``consume(1000, 0.1)`` and ``value()`` of every message, nothing else;
   * **raw**: the same plus `MutationCodec.decode` of every value (the runtime bench's raw
     loop, without its offset store);
   * **lean**: the least a key-ordered, batching consumer can do on one thread without
     asyncio, threads, metrics, retries or commits: per record a small record, the offset
     noted per partition and the key checked against the keys in flight (a key's later
     records wait behind it); batches of `--max-records` decoded at hand-over, a no-op call,
     then offsets finished and keys released. Every record is handled once (checked).

   Every loop runs with the garbage collector tuned as the runtime tunes it (frozen start-up
   objects, a first generation of 50,000).
3. Print CPU µs per record (all threads) and records/s per loop, the lean/raw ratio per
   round, and the runtime bench's targets (≤ 12 µs CPU per record, ≥ 0.85x the raw loop)
   next to them.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import secrets
import statistics
import sys
import time
import timeit
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from fastavro import schemaless_reader

from bench.runtime_bench import _delete_topics, _mutations, _prepublish
from connector.codec import MutationCodec
from connector.config import KafkaSettings
from contracts import MutationData
from schemas import load_schema

CPU_TARGET_US = 12.0
RATIO_TARGET = 0.85
_TIMEOUT_S = 600.0


# ----------------------------------------------------------------------------- in-process --
def _best_us(run: Callable[[], object], count: int) -> float:
    return min(timeit.repeat(run, number=1, repeat=5)) / count * 1e6


def _decode_costs(values: list[bytes]) -> list[tuple[str, float]]:
    """µs per record of each decoding step, tight loops over the same values."""
    codec = MutationCodec()
    # The codec's own header and wire schema: fastavro exactly as the codec calls it.
    header = len(codec._single_object_header)
    wire = codec._fast
    bodies = [v[header:] for v in values]
    n = len(values)
    fastavro_us = _best_us(lambda: [schemaless_reader(BytesIO(b), wire, None) for b in bodies], n)
    codec_us = _best_us(lambda: [codec.decode(v) for v in values], n)
    costs = [
        ("fastavro schemaless_reader", fastavro_us),
        ("MutationCodec.decode", codec_us),
        ("  of which not fastavro (checks, MutationData)", codec_us - fastavro_us),
    ]
    try:
        cavro: Any = importlib.import_module("cavro")
    except ImportError:
        return costs
    schema = cavro.Schema(load_schema("mutation_data"))
    costs.append(
        (
            "cavro binary_decode (optional)",
            _best_us(lambda: [schema.binary_decode(b) for b in bodies], n),
        )
    )
    return costs


# ----------------------------------------------------------------------------- loops ------
def _noop(mutations: list[MutationData]) -> None:
    """The driver call of the lean loop."""


def _handle_lean(
    messages: list[Any],
    max_records: int,
    decode: Callable[[bytes], MutationData],
    pending: dict[int, deque[int]],
    finished: dict[int, set[int]],
) -> int:
    """One fetch through the lean loop (module docstring); returns the records handled."""
    busy: set[bytes] = set()
    waiting: dict[bytes, deque[list[Any]]] = {}
    batch: list[list[Any]] = []
    batches: deque[list[list[Any]]] = deque([batch])
    # 1. Per record: note the offset, queue behind its key or put it in a batch.
    for message in messages:
        if message.error() is not None:
            continue
        partition, offset, key = message.partition(), message.offset(), message.key()
        offsets = pending.get(partition)
        if offsets is None:
            offsets = pending[partition] = deque()
            finished[partition] = set()
        offsets.append(offset)
        record = [partition, offset, key, message.value(), None]
        if key in busy:
            waiting.setdefault(key, deque()).append(record)
            continue
        busy.add(key)
        batch.append(record)
        if len(batch) == max_records:
            batch = []
            batches.append(batch)
    # 2. Per batch: decode, call, finish offsets, release keys (a waiting record goes next).
    handled = 0
    while batches:
        batch = batches.popleft()
        for record in batch:
            record[4] = decode(record[3])
        _noop([record[4] for record in batch])
        handled += len(batch)
        following: list[list[Any]] = []
        for record in batch:
            finished[record[0]].add(record[1])
            queue = waiting.get(record[2])
            if queue:
                following.append(queue.popleft())
            else:
                busy.discard(record[2])
        if following:
            batches.append(following)
        for partition, offsets in pending.items():
            done = finished[partition]
            while offsets and offsets[0] in done:
                done.discard(offsets.popleft())
    return handled


def _loop(
    kind: str, client_config: dict[str, str], topic: str, group: str, count: int, max_records: int
) -> tuple[float, float]:
    """Consume the topic once with a new group; (records/s, CPU µs per record) from the
    first record to the last."""
    decode = MutationCodec().decode
    consumer = Consumer(
        {
            **client_config,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    pending: dict[int, deque[int]] = {}
    finished: dict[int, set[int]] = {}
    done = handled = 0
    first_wall = first_cpu = 0.0
    deadline = time.perf_counter() + _TIMEOUT_S
    try:
        while done < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{kind}: {done} of {count} after {_TIMEOUT_S:g} s")
            messages = consumer.consume(1000, 0.1)
            if not messages:
                continue
            if not first_wall:
                first_wall, first_cpu = time.perf_counter(), time.process_time()
            if kind == "consume":
                for message in messages:
                    message.value()
            elif kind == "raw":
                for message in messages:
                    decode(message.value())
            else:
                handled += _handle_lean(messages, max_records, decode, pending, finished)
            done += len(messages)
        wall, cpu = time.perf_counter() - first_wall, time.process_time() - first_cpu
    finally:
        consumer.close()
    if kind == "lean" and (handled != count or any(pending.values())):
        raise AssertionError(f"lean loop: {handled} of {count} handled, offsets left unfinished")
    return count / wall, cpu / count * 1e6


# ----------------------------------------------------------------------------- main -------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.floor_bench",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-records", type=int, default=250)
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
    )
    args = parser.parse_args(argv)
    prefix = f"bench-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    client_config = KafkaSettings(bootstrap_servers=args.bootstrap_servers).client_config()
    admin = AdminClient(dict(client_config))
    topic = f"{prefix}.mutations.product"
    keys, values = _mutations(args.count)
    # The garbage collector tuned as the runtime tunes it (connector/runtime/app.py), so
    # that these floors are measured under the runtime's own conditions.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
    # 1. in-process decoding costs
    print(f"floor bench: {args.count:,} product mutations, {len(values[0]):,} bytes each")
    for name, us in _decode_costs(values[:20_000]):
        print(f"  {name:<48} {us:5.1f} µs/record")
    try:
        # 2. the three loops over one topic, alternating
        admin.create_topics(
            [NewTopic(topic, num_partitions=args.partitions, replication_factor=1)]
        )[topic].result(timeout=30)
        _prepublish(client_config, topic, values, keys)
        del keys, values
        figures: dict[str, list[tuple[float, float]]] = {"consume": [], "raw": [], "lean": []}
        for i in range(args.rounds):
            for kind, runs in figures.items():
                group = f"{prefix}.{kind}-{i}"
                runs.append(_loop(kind, client_config, topic, group, args.count, args.max_records))
            raw, lean = figures["raw"][-1], figures["lean"][-1]
            print(
                f"  round {i + 1}: "
                + "  ".join(
                    f"{k} {r[-1][0]:>7,.0f}/s {r[-1][1]:5.1f} µs" for k, r in figures.items()
                )
                + f"   lean/raw {lean[0] / raw[0]:.2f}x"
            )
        # 3. report
        for kind, runs in figures.items():
            print(
                f"{kind:<8} median {statistics.median(r[0] for r in runs):>9,.0f}/s  "
                f"CPU {statistics.median(r[1] for r in runs):5.1f} µs/record (all threads)"
            )
        ratios = [
            lean[0] / raw[0] for raw, lean in zip(figures["raw"], figures["lean"], strict=True)
        ]
        raw_cpu = statistics.median(r[1] for r in figures["raw"])
        print(
            f"raw loop CPU {raw_cpu:.1f} µs/record against the runtime's target of "
            f"<= {CPU_TARGET_US:g} µs (the raw loop has no runtime at all)"
        )
        print(
            f"lean/raw median {statistics.median(ratios):.2f}x (rounds "
            f"{', '.join(f'{r:.2f}' for r in ratios)}) against the runtime's target of "
            f">= {RATIO_TARGET}x"
        )
    finally:
        _delete_topics(admin, prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
