"""`run_in_key_order`: a batch's mutations concurrently across keys, in order within a key.

The runtime hands `handle_batch` mutations of one entity type in partition order. Requests
for different entities may run at once; those for one entity must keep their order. (Saves
of one SKU by two entities are serialised by the products' SKU locks: two overlapping saves
of a new SKU create two products, notes §8.)

1. Group the mutations into chains by key, each chain in batch order.
2. Run the chains concurrently (the HTTP client bounds the requests in flight).
3. Within a chain, a transient failure stops the chain: the mutations after it are not
   attempted and are reported with a transient error too, so the runtime retries them after
   it, in order. A permanent failure (that record is dead-lettered) does not stop the chain.

Returns the failures by batch index; an empty dict means every mutation was applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from contracts import TransientError

__all__ = ["run_in_key_order"]

_T = TypeVar("_T")


async def run_in_key_order(
    items: Sequence[_T],
    key: Callable[[_T], str],
    work: Callable[[_T], Awaitable[None]],
) -> dict[int, BaseException]:
    # 1. chains
    chains: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        chains.setdefault(key(item), []).append(index)
    failures: dict[int, BaseException] = {}

    async def run_chain(indexes: list[int]) -> None:
        blocked: BaseException | None = None
        for index in indexes:
            if blocked is not None:
                # 3. keep the order: not attempted, retried after the one that failed
                failures[index] = TransientError(
                    f"not attempted: an earlier mutation of the same key failed ({blocked})"
                )
                continue
            try:
                await work(items[index])
            except Exception as exc:
                failures[index] = exc
                if getattr(exc, "retriable", True) or getattr(exc, "fatal", False):
                    blocked = exc

    # 2. concurrently
    await asyncio.gather(*(run_chain(indexes) for indexes in chains.values()))
    return failures
