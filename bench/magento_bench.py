"""Records/s of the magento2 driver into the fake Magento store with a fixed request latency.

Run: ``.venv/bin/python -m bench.magento_bench [--products 400] [--latency-ms 20]``.

1. For each mode, start a fresh fake store in its own process (``python -m
   drivers.magento2.fake_store``: requests checked against Adobe's schema; in a thread of
   this process it would compete with the driver for the GIL) whose every request waits
   ``--latency-ms``, as a real store's PHP bootstrap and save do.
2. Bind a driver like the runtime does (with an in-memory mapping service), create the family
   and the categories the products use, then time ``handle_batch`` over ``--products`` demo
   products (English and German names: two requests per product) in batches of ``--batch``:

   * synchronous, ``max_concurrent_requests`` 1, 8 and 32;
   * bulk mode (``/async/bulk/V1/products``, status polled every 50 ms).

3. Check through the REST API that the store holds every product; print records/s,
   requests/s, the speed-up over concurrency 1, and the CPU per record of the driver (this
   process) and of the store (its process, from ``/proc``): on a small machine both compete
   for the same cores, so the sync figures can be CPU-bound rather than latency-bound.

The store skips its request schema checks unless ``--check-requests`` (its CPU per request is
then mostly its own semantics, closer to what a benchmark of the driver should pay for).

No Kafka: this measures the driver and the store's latency, not the runtime.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from connector.demo.catalogue import product_payload
from contracts import MutationData, Operation
from contracts.testing import TEST_INTEGRATION_UUID, DriverHarness, InMemoryMappingService
from drivers.magento2 import Magento2Driver
from drivers.magento2.fake_store import StoreCredentials

_FAMILY = "00000000-0000-4000-8000-00000000fa01"
_CATEGORIES = [f"00000000-0000-4000-8000-0000000ca7{i:02d}" for i in range(6)]


@dataclass(frozen=True, slots=True)
class Figure:
    mode: str
    concurrency: int
    seconds: float
    records: int
    requests: int
    cpu_seconds: float
    """CPU of this process (the driver; the store runs in another)."""
    store_cpu_seconds: float | None
    """CPU of the store's process over the same span (None where /proc is not readable)."""

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def _config(base_url: str, concurrency: int, bulk: bool) -> dict[str, Any]:
    creds = StoreCredentials()
    return {
        "base_url": base_url,
        "consumer_key": creds.consumer_key,
        "consumer_secret": creds.consumer_secret,
        "access_token": creds.access_token,
        "access_token_secret": creds.access_token_secret,
        "locale_stores": {"de_DE": "de"},
        "max_concurrent_requests": concurrency,
        "bulk_mode": bulk,
        "bulk_poll_interval_s": 0.05,
        "request_timeout_s": 20,
    }


def _process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux ``/proc``), or None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _store_process(latency_ms: float, check_requests: bool) -> Iterator[tuple[str, int]]:
    """A fake store in a child process; yields its base URL and process id."""
    command = [sys.executable, "-m", "drivers.magento2.fake_store", "--no-response-checks",
               "--latency-ms", str(latency_ms)]  # fmt: skip
    if not check_requests:
        command.append("--no-request-checks")
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.startswith("listening on "):
            raise SystemExit(f"the fake store did not start: {line!r}")
        yield line.removeprefix("listening on ").strip(), child.pid
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(10)


def _stored_products(base_url: str) -> int:
    params = {"searchCriteria[pageSize]": "1"}
    headers = {"Authorization": f"Bearer {StoreCredentials().access_token}"}
    response = httpx.get(f"{base_url}/rest/all/V1/products", params=params, headers=headers)
    return int(response.json()["total_count"])


def _products(count: int) -> list[MutationData]:
    rng = random.Random(3)
    return [
        MutationData(
            entity_type="product",
            entity_uuid=f"00000000-0000-4000-8000-{n:012d}",
            operation=Operation.CREATED,
            payload=product_payload(n, rng, _CATEGORIES, _FAMILY),
            version=1,
        )
        for n in range(count)
    ]


def _run(mode: str, concurrency: int, args: argparse.Namespace) -> Figure:
    # 1. the store, in its own process
    with _store_process(args.latency_ms, args.check_requests) as (base_url, store_pid):
        config = _config(base_url, concurrency, mode == "bulk")
        mappings = InMemoryMappingService(integration_uuid=TEST_INTEGRATION_UUID)
        with DriverHarness(Magento2Driver(), config=config, mapping_service=mappings) as h:
            # 2. what the products reference, then the timed batches
            family = MutationData(
                entity_type="family", entity_uuid=_FAMILY, operation=Operation.CREATED,
                payload={"code": "f"},
            )  # fmt: skip
            h.handle_batch([family])
            h.handle_batch([
                MutationData(entity_type="category", entity_uuid=u, operation=Operation.CREATED,
                             payload={"code": f"c{i}"})
                for i, u in enumerate(_CATEGORIES)
            ])  # fmt: skip
            products = _products(args.products)
            store_cpu = _process_cpu(store_pid)
            started, cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(products), args.batch):
                h.handle_batch(products[i : i + args.batch])
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            store_after = _process_cpu(store_pid)
            if store_cpu is not None and store_after is not None:
                store_cpu = store_after - store_cpu
        # 3. check
        stored = _stored_products(base_url)
        if stored != args.products:
            raise SystemExit(f"{mode}/{concurrency}: the store holds {stored} products")
    requests = 2 * args.products if mode == "sync" else 2 * -(-args.products // args.batch)
    return Figure(mode, concurrency, seconds, args.products, requests, cpu, store_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=400)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--check-requests", action="store_true", help="let the store check requests (slower)"
    )
    args = parser.parse_args()
    figures = [_run("sync", c, args) for c in (1, 8, 32)] + [_run("bulk", 8, args)]
    base = figures[0].rate
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{args.products} products, {args.latency_ms:g} ms per request, batches of "
          f"{args.batch}, store request checks {'on' if args.check_requests else 'off'}; "
          f"{os.cpu_count()} cores, load average {load} (1/5/15 min) at the end")  # fmt: skip
    print(f"{'mode':<6} {'concurrency':>11} {'records/s':>10} {'writes/s':>9} {'seconds':>8} "
          f"{'x conc. 1':>10} {'CPU ms/record: driver':>22} {'store':>6}")  # fmt: skip
    for f in figures:
        store = (
            "n/a"
            if f.store_cpu_seconds is None
            else f"{1000 * f.store_cpu_seconds / f.records:.1f}"
        )
        print(
            f"{f.mode:<6} {f.concurrency:>11} {f.rate:>10.1f} {f.requests / f.seconds:>9.1f} "
            f"{f.seconds:>8.2f} {f.rate / base:>10.1f} {1000 * f.cpu_seconds / f.records:>22.1f} "
            f"{store:>6}"
        )


if __name__ == "__main__":
    main()
