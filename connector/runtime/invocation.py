"""`DriverInvoker`: one call of a driver, sync or ``async``, under the handle timeout.

Every call runs inside `contracts.deadline_scope(handle_timeout)`, so the driver can read its
deadline (`contracts.current_deadline()`, `IntegrationContext.deadline()`) and set its own
downstream timeouts below it.

Timeouts never overlap calls:

* an ``async`` call that passes the timeout is cancelled, and the invoker waits for the
  cancellation to finish before it raises `TimeoutError`;
* a sync call runs in a worker thread, which Python cannot stop. When it passes the timeout
  the invoker logs it, counts it as *overdue* and keeps waiting: nothing else for its
  records (a retry, an isolation step) may start while it still runs, or the downstream
  would see the same records twice at once. When it ends, its own outcome counts (a late
  success is a success). `overdue_since` lets health checks report a call that never ends.

Sync drivers get a pool of `threads` workers: calls for different keys run in parallel, so a
sync driver must be safe to call from several threads at once (never for the same entity).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from connector.metrics import METRICS, ConnectorMetrics
from contracts import AbstractDriver, DriverContract, MutationData, deadline_scope

__all__ = ["CallWatchdog", "DriverInvoker", "implements_only_handle"]

_TICK_S = 0.05
_T = TypeVar("_T")


class CallWatchdog:
    """Cancels async calls that run past their timeout: one timer for all calls in flight.

    `asyncio.timeout` costs a timer per call; at thousands of calls per second that churn
    shows in profiles. The watchdog checks the calls in flight every `tick_s` (a call is
    cancelled at most `tick_s` late) and only while there are any.
    """

    def __init__(self, tick_s: float = _TICK_S) -> None:
        self._tick_s = tick_s
        self._calls: dict[int, tuple[float, asyncio.Task[Any]]] = {}
        self._expired: set[int] = set()
        self._next = 0
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, task: asyncio.Task[Any], timeout_s: float) -> int:
        """Watch `task`'s current call; cancel it `timeout_s` from now unless unwatched."""
        loop = asyncio.get_running_loop()
        self._next += 1
        self._calls[self._next] = (loop.time() + timeout_s, task)
        if self._timer is None:
            self._timer = loop.call_later(self._tick_s, self._check)
        return self._next

    def unwatch(self, watch: int) -> None:
        self._calls.pop(watch, None)
        self._expired.discard(watch)

    def expired(self, watch: int) -> bool:
        """Whether the watchdog cancelled this call."""
        return watch in self._expired

    def _check(self) -> None:
        self._timer = None
        if not self._calls:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        for watch, (deadline, task) in self._calls.items():
            if deadline <= now and watch not in self._expired:
                self._expired.add(watch)
                task.cancel()
        self._timer = loop.call_later(self._tick_s, self._check)


def implements_only_handle(driver: DriverContract) -> bool:
    """Whether the driver relies on `AbstractDriver`'s default `handle_batch` (the seed's
    pattern): the runtime then calls `handle` per record, for different keys in parallel."""
    if not isinstance(driver, AbstractDriver):
        return False
    method = type(driver).handle_batch
    return method in (AbstractDriver.handle_batch, AbstractDriver._handle_batch_async)


def _coroutine_function(fn: Callable[[_T], object]) -> Callable[[_T], Awaitable[object]] | None:
    """`fn` itself when calling it gives a coroutine to await (an ``async def``), else None."""
    return fn if inspect.iscoroutinefunction(fn) else None


class DriverInvoker:
    """Calls `handle_batch`/`handle` with the deadline, timeout and metrics of one integration."""

    def __init__(
        self,
        driver: DriverContract,
        *,
        integration_uuid: str,
        handle_timeout_s: float,
        threads: int,
        metrics: ConnectorMetrics = METRICS,
        logger: logging.Logger | None = None,
    ) -> None:
        self.driver = driver
        self.timeout_s = handle_timeout_s
        self.per_record = implements_only_handle(driver)
        self._batch_coroutine = _coroutine_function(driver.handle_batch)
        handle = getattr(driver, "handle", None)  # only drivers that implement it get called
        self._one_coroutine = None if handle is None else _coroutine_function(handle)
        self._label = integration_uuid
        self._metrics = metrics
        self.log = logger or logging.getLogger("iec.runtime.invocation")
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max(1, threads), f"driver-{integration_uuid[:8]}"
        )
        self._watchdog = CallWatchdog()
        self._children: dict[str, tuple[Any, Any, Any]] = {}
        """Metric children per entity type (`labels()` costs microseconds per call)."""
        self._overdue: dict[int, float] = {}
        self._overdue_counter = metrics.overdue_calls.labels(integration_uuid)
        self._calls = 0

    @property
    def overdue(self) -> int:
        """Sync calls running past their timeout right now."""
        return len(self._overdue)

    @property
    def overdue_since(self) -> float | None:
        """`time.monotonic()` at which the oldest overdue call passed its timeout."""
        return min(self._overdue.values(), default=None)

    def close(self) -> None:
        """Stop the worker threads once their calls end (never waits for them)."""
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def handle_batch(self, entity_type: str, mutations: Sequence[MutationData]) -> None:
        """`handle_batch(mutations)`; raises what it raises, or `TimeoutError`."""
        what = f"handle_batch of {len(mutations)} {entity_type} mutation(s)"
        batch = list(mutations)
        started = time.perf_counter()
        try:
            if self._batch_coroutine is not None:
                await self._awaited(self._batch_coroutine, batch, what)
            else:
                await self._threaded(self.driver.handle_batch, batch, what)
        finally:
            self._observe(entity_type, len(batch), time.perf_counter() - started)

    async def handle_one(self, mutation: MutationData) -> None:
        """`handle(mutation)`; raises what it raises, or `TimeoutError`."""
        what = f"handle of {mutation.entity_type} {mutation.entity_uuid}"
        started = time.perf_counter()
        try:
            if self._one_coroutine is not None:
                await self._awaited(self._one_coroutine, mutation, what)
            else:
                await self._threaded(self.driver.handle, mutation, what)
        finally:
            self._observe(mutation.entity_type, 1, time.perf_counter() - started)

    def _observe(self, entity_type: str, size: int, elapsed: float) -> None:
        children = self._children.get(entity_type)
        if children is None:
            m, labels = self._metrics, (self._label, entity_type)
            children = self._children[entity_type] = (
                m.handle_duration.labels(*labels),
                m.batch_size.labels(*labels),
                m.batches.labels(*labels),
            )
        duration, batch_size, batches = children
        duration.observe(elapsed)
        batch_size.observe(size)
        batches.inc()

    async def _awaited(self, fn: Callable[[_T], Awaitable[object]], arg: _T, what: str) -> None:
        timeout = self.timeout_s
        task = asyncio.current_task()
        assert task is not None
        watch = self._watchdog.watch(task, timeout)
        try:
            with deadline_scope(timeout):
                await fn(arg)
        except asyncio.CancelledError:
            if not self._watchdog.expired(watch):
                raise  # cancelled by someone else (shutdown, revoke): stays cancelled
            task.uncancel()
            raise TimeoutError(
                f"{what} exceeded the handle timeout of {timeout:g}s (cancelled)"
            ) from None
        else:
            if self._watchdog.expired(watch):
                task.uncancel()  # the driver finished anyway (it swallowed the cancellation)
        finally:
            self._watchdog.unwatch(watch)

    async def _threaded(self, fn: Callable[[_T], object], arg: _T, what: str) -> None:
        timeout = self.timeout_s

        def call() -> None:
            with deadline_scope(timeout):
                fn(arg)

        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        running = self._threads.submit(context.run, call)
        # A timer marks the call overdue if it runs past the timeout (cheaper than waiting
        # on the future with a timeout); either way the call is awaited to its end: nothing
        # else happens to its records before it ends.
        self._calls += 1
        call_id = self._calls
        timer = loop.call_later(timeout, self._overdue_now, call_id, what)
        try:
            await asyncio.wrap_future(running)
        except asyncio.CancelledError:
            # Cancelled from outside (a revoke's or the shutdown's grace ran out). A call
            # that has started cannot be interrupted: the work (its keys, its place among
            # the running works) stays until the thread ends, so no other call for these
            # records can start meanwhile; then the cancellation goes on.
            while not running.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait([asyncio.wrap_future(running)])
            raise
        finally:
            timer.cancel()
            started = self._overdue.pop(call_id, None)
            if started is not None:
                self.log.warning(
                    "%s ended %.1fs after its timeout", what, time.monotonic() - started
                )

    def _overdue_now(self, call_id: int, what: str) -> None:
        self._overdue[call_id] = time.monotonic()
        self._overdue_counter.inc()
        self.log.warning(
            "%s exceeded the handle timeout of %gs; a sync call cannot be interrupted, so "
            "its records wait until it ends",
            what,
            self.timeout_s,
        )
