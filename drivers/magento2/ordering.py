"""`run_in_key_order`: a batch's mutations concurrently across keys, in order within a key.

The runtime hands `handle_batch` mutations of one entity type in partition order. Requests
for different entities may run at once; those for one entity must keep their order. (Saves
of one SKU by two entities are serialised by the products' SKU locks: two overlapping saves
of a new SKU create two products, notes §8.)

1. Group the mutations into chains by key, each chain in batch order.
2. Run the chains concurrently, a mutation only while it holds one of `slots` (shared by
   the driver's concurrent batches; None: no bound but the HTTP client's), so mutations
   finish one after another instead of all being half done when time runs out.
3. Before a mutation starts (once it has its slot), look at the call's deadline: with less
   than `deadline_margin_s` left (at least 2 s, 10 % of the handle timeout) it is not started
   and fails as transient, so the call returns what it finished before the runtime gives up
   on it (and the finished records count) instead of being cancelled and redone whole.
4. Within a chain, a transient failure stops the chain: the mutations after it are not
   attempted and are reported with a transient error too, so the runtime retries them after
   it, in order. A permanent failure (that record is dead-lettered) does not stop the chain.

Returns the failures by batch index; an empty dict means every mutation was applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from contracts import Deadline, TransientError, current_deadline

__all__ = ["deadline_margin_s", "run_in_key_order"]

_T = TypeVar("_T")
_MIN_MARGIN_S = 2.0
_MARGIN_SHARE = 0.1


def deadline_margin_s(deadline: Deadline) -> float:
    """Time a mutation needs left to be started (step 3)."""
    return max(_MIN_MARGIN_S, _MARGIN_SHARE * deadline.timeout_s)


class _NotStartedError(TransientError):
    pass


async def run_in_key_order(
    items: Sequence[_T],
    key: Callable[[_T], str],
    work: Callable[[_T], Awaitable[None]],
    *,
    slots: asyncio.Semaphore | None = None,
) -> dict[int, BaseException]:
    # 1. chains
    chains: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        chains.setdefault(key(item), []).append(index)
    failures: dict[int, BaseException] = {}

    def time_left() -> float | None:
        """Seconds a mutation may still wait before starting (None: no deadline)."""
        deadline = current_deadline()
        if deadline is None:
            return None
        left = deadline.remaining() - deadline_margin_s(deadline)
        if left <= 0:
            raise _NotStartedError(
                f"not started: the call's deadline is {deadline.remaining():.1f} s away "
                f"(handle timeout {deadline.timeout_s:g} s); sent again with the next attempt"
            )
        return left

    async def run_one(item: _T) -> None:
        # 3. only with time left, waiting for a slot no longer than that
        left = time_left()
        if slots is None:
            await work(item)
            return
        try:
            async with asyncio.timeout(left):
                await slots.acquire()
        except TimeoutError:
            raise _NotStartedError(
                "not started: no mutation slot was free before the call's deadline came near; "
                "sent again with the next attempt"
            ) from None
        try:
            time_left()
            await work(item)
        finally:
            slots.release()

    async def run_chain(indexes: list[int]) -> None:
        blocked: BaseException | None = None
        for index in indexes:
            if blocked is not None:
                # 4. keep the order: not attempted, retried after the one that failed
                failures[index] = TransientError(
                    f"not attempted: an earlier mutation of the same key failed ({blocked})"
                )
                continue
            try:
                await run_one(items[index])
            except Exception as exc:
                failures[index] = exc
                if getattr(exc, "retriable", True) or getattr(exc, "fatal", False):
                    blocked = exc

    # 2. concurrently
    await asyncio.gather(*(run_chain(indexes) for indexes in chains.values()))
    return failures
