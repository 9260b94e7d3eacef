"""driverkit's cost per request: `AsyncHttpClient` against a bare `httpx.AsyncClient`.

Both send the same POST through the same in-process `httpx.MockTransport` (no network, so the
figures are the clients' own work), under a call deadline as the runtime sets one. Prints
µs per request for each and driverkit's overhead.

    .venv/bin/python -m bench.driverkit_bench            # ~10 s
    .venv/bin/python -m bench.driverkit_bench -n 20000
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from contracts import deadline_scope
from driverkit import AsyncHttpClient

_BODY = b'{"sku": "A-1", "name": "Shirt", "price": 19.9}'


def _transport() -> httpx.MockTransport:
    answer = b'{"id": "ext-1"}'
    return httpx.MockTransport(lambda request: httpx.Response(200, content=answer))


async def _bare(n: int) -> float:
    async with httpx.AsyncClient(base_url="https://shop.test", transport=_transport()) as client:
        started = time.perf_counter()
        for _ in range(n):
            with deadline_scope(30):
                response = await client.post("/items", content=_BODY, timeout=10)
                response.raise_for_status()
        return time.perf_counter() - started


async def _driverkit(n: int) -> float:
    async with AsyncHttpClient(
        base_url="https://shop.test", transport=_transport(), secrets=["s3cret-token"]
    ) as client:
        started = time.perf_counter()
        for _ in range(n):
            with deadline_scope(30):
                await client.post("/items", content=_BODY)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="requests per round")
    parser.add_argument("-r", type=int, default=5, help="rounds (the best is kept)")
    args = parser.parse_args()
    bare_s, kit_s = [], []
    for _ in range(args.r):  # interleaved, so a busy moment of the machine hits both
        bare_s.append(asyncio.run(_bare(args.n)))
        kit_s.append(asyncio.run(_driverkit(args.n)))
    bare, kit = min(bare_s) / args.n * 1e6, min(kit_s) / args.n * 1e6
    print(f"bare httpx.AsyncClient : {bare:8.1f} µs/request")
    print(f"driverkit AsyncHttpClient: {kit:6.1f} µs/request")
    print(f"driverkit overhead     : {kit - bare:8.1f} µs/request ({kit / bare:.2f}x)")


if __name__ == "__main__":
    main()
