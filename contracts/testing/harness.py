"""Bind a driver the way the runtime does and call it, whether it is sync or ``async``.

The steps mirror the runtime's (see `contracts.driver`):

1. Validate the configuration against `get_configuration_schema()`.
2. Bind the driver with one `DriverBinding` through `bind_driver` (the runtime's own step).
3. Call `open()` if the driver has one (awaited if it is ``async``).
4. Call `handle_batch()` / `handle()` as often as the test wants, each inside
   `deadline_scope(context.handle_timeout_s)` as the runtime does.
5. Call `close()` if the driver has one.

All awaiting happens on one event loop per harness (an `asyncio.Runner`), so an async driver
may keep loop-bound clients (an `httpx.AsyncClient`) from `open()` to `close()`.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from pydantic import BaseModel

from contracts._mutation import MutationData
from contracts.binding import DriverBinding, bind_driver
from contracts.configuration import validate_configuration
from contracts.context import IntegrationContext
from contracts.deadline import deadline_scope
from contracts.driver import DriverContract
from contracts.mapping import EntityMappingService
from contracts.testing.mapping_service import InMemoryMappingService

__all__ = [
    "TEST_INTEGRATION_UUID",
    "DriverHarness",
    "ahandle_batch",
    "make_context",
    "run_handle_batch",
]

TEST_INTEGRATION_UUID = "00000000-0000-4000-8000-00000000c0de"


def make_context(integration_uuid: str = TEST_INTEGRATION_UUID) -> IntegrationContext:
    """An `IntegrationContext` for tests, with a fixed clock (2024-01-01T00:00:00Z)."""
    return IntegrationContext(
        integration_uuid=integration_uuid,
        integration_name="contract-test",
        environment="test",
        clock=lambda: datetime(2024, 1, 1, tzinfo=UTC),
    )


async def ahandle_batch(driver: DriverContract, mutations: Sequence[MutationData]) -> None:
    """Call `driver.handle_batch` and await it if the driver is async."""
    result = driver.handle_batch(mutations)
    if inspect.isawaitable(result):
        await result


def run_handle_batch(driver: DriverContract, mutations: Sequence[MutationData]) -> None:
    """Call `driver.handle_batch` from synchronous code, running it to completion if async.

    An async driver runs on a fresh event loop; inside a running loop use `ahandle_batch`.
    """
    result = driver.handle_batch(list(mutations))
    if inspect.isawaitable(result):
        _run_awaitable(result)


def _run_awaitable(result: Awaitable[Any], runner: asyncio.Runner | None = None) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        if inspect.iscoroutine(result):
            result.close()  # never awaited otherwise; avoid the "never awaited" warning
        raise RuntimeError(
            "an async driver was called from a running event loop: use `await ahandle_batch(...)`"
        )

    async def wait() -> Any:
        return await result

    if runner is None:
        return asyncio.run(wait())
    # The runner's own context was copied when it first ran (at `open()`), outside any
    # `deadline_scope`: run in a copy of the caller's, so the driver sees the call's deadline.
    return runner.run(wait(), context=contextvars.copy_context())


class DriverHarness:
    """One driver bound like the runtime binds it, with its own event loop for async calls.

    Use as a context manager (it opens and closes the driver), or call `open()`/`close()`.
    """

    def __init__(
        self,
        driver: DriverContract,
        *,
        config: Mapping[str, Any] | None = None,
        mapping_service: EntityMappingService | None = None,
        context: IntegrationContext | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.driver = driver
        self.context = context or make_context()
        self.mapping_service = mapping_service or InMemoryMappingService(
            integration_uuid=self.context.integration_uuid
        )
        self.config_data: Mapping[str, Any] = config or {}
        self.logger = logger or logging.getLogger(f"iec.driver.{driver.get_type()}.test")
        self._runner: asyncio.Runner | None = None
        self.validated_config: BaseModel | None = None
        self.binding: DriverBinding | None = None

    def bind(self) -> DriverBinding:
        """Steps 1-2: validate the configuration and bind the driver as the runtime does."""
        driver = self.driver
        # 1. Validate (raises ConfigValidationError).
        self.validated_config = validate_configuration(
            driver.get_configuration_schema(), self.config_data
        )
        # 2. Bind.
        self.binding = DriverBinding(
            context=self.context,
            driver_type=driver.get_type(),
            config=self.validated_config,
            logger=self.logger,
            mapping_service=self.mapping_service,
        )
        bind_driver(driver, self.binding)
        return self.binding

    def open(self) -> None:
        """Steps 1-3: bind, then call the driver's `open()` if it has one."""
        self._runner = asyncio.Runner()
        self.bind()
        self._maybe_call("open")

    def close(self) -> None:
        """Step 5: call the driver's `close()` if it has one, and close the event loop."""
        try:
            self._maybe_call("close")
        finally:
            if self._runner is not None:
                self._runner.close()
                self._runner = None

    def _maybe_call(self, name: str) -> None:
        method = getattr(self.driver, name, None)
        if callable(method):
            self._settle(method())

    def _settle(self, result: object) -> None:
        if inspect.isawaitable(result):
            _run_awaitable(result, self._runner)

    def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        """Step 4: `handle_batch(mutations)` run to completion (sync or async).

        A list is passed as it is (so a test can check the driver left it alone); any other
        sequence is copied into a list, as the runtime passes lists.
        """
        batch = mutations if isinstance(mutations, list) else list(mutations)
        with deadline_scope(self.context.handle_timeout_s):
            self._settle(self.driver.handle_batch(batch))

    def handle(self, mutation: MutationData) -> None:
        """Step 4 for one mutation, through the driver's `handle`."""
        with deadline_scope(self.context.handle_timeout_s):
            self._settle(self.driver.handle(mutation))

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
