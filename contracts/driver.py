"""`DriverContract` and `AbstractDriver`: what a driver implements and what it is given.

Lifecycle (the seed's, in Python; `contracts.binding` has the binding step in detail):

1. The runtime finds the driver class through the ``iec.drivers`` entry-point group and
   instantiates it with no arguments, once per integration.
2. It validates the integration's configuration against `get_configuration_schema()`.
3. Before the first mutation it binds the driver with one `DriverBinding`
   (`bind_driver`): `AbstractDriver.bind` sets `integration_data` (the seed's keys ``uuid``,
   ``name``, ``type``, ``environment`` and ``config``, the validated configuration as a
   dict), `config` (the validated configuration object), `logger` (named for the
   integration), `mapping_service` (this integration's `EntityMappingService`) and
   `context` (an `IntegrationContext`: identity, clock, flags, deadline, retry policy).
   Then it calls `open()` if the driver has one.
4. It calls `handle_batch()` with mutations of one entity type, in partition order.
5. On shutdown it calls `close()` if the driver has one.

Concurrency. `handle` and `handle_batch` may be plain or ``async def``:

* A plain (sync) driver is called from a bounded pool of worker threads, so a slow driver
  never stalls consuming. Calls for *different* entities may run at the same time on
  different threads; two calls never carry the same ``entity_uuid`` at once, and one
  entity's mutations arrive in offset order. Whatever a sync driver shares between calls
  (a client, a cache, counters) must be thread-safe: `httpx.Client`, the mapping service
  and `logging` are; a plain dict updated in several steps is not.
* An ``async`` driver is awaited on the runtime's event loop; its calls for different
  entities run concurrently as tasks on that one loop (same per-entity guarantee). It must
  never block the loop: use an async client and `AsyncMappingService` (or
  ``asyncio.to_thread`` for a blocking library).

Failures. Raise `TransientError` (or `DependencyNotReadyError`, `RateLimitedError`) for
what may succeed later, `PermanentError` for a record that can never be processed,
`PartialBatchError` from `handle_batch` when only some records failed, and
`ConfigurationError`/`FatalError` when the integration cannot run at all. Anything else
that escapes is classified by `contracts.classification.classify` (e.g. `httpx` timeouts
and connection errors are transient, `KeyError`/`ValueError` permanent); an exception the
table does not know follows the integration's ``retry.unknown_errors`` setting.
"""

from __future__ import annotations

import inspect
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

from pydantic import BaseModel

from contracts._mutation import EntityTypes, MutationData
from contracts.async_mapping import awaitable_mapping_service
from contracts.binding import DriverBinding
from contracts.context import IntegrationContext
from contracts.mapping import AsyncMappingService, EntityMappingService

__all__ = [
    "AbstractDriver",
    "ConfigurationSchema",
    "DriverContract",
    "is_async_driver",
    "missing_contract_methods",
]

ConfigurationSchema = type[BaseModel] | Mapping[str, str | Sequence[str]]
"""A pydantic model class, or Laravel-style rules such as ``{"base_url": "required|url"}``
(a field's rules may also be a list, as in Laravel: ``["required", "regex:/a|b/"]``)."""


@runtime_checkable
class DriverContract(Protocol):
    """The seed's `DriverContract`: identity, capabilities, processing, configuration."""

    def get_name(self) -> str: ...
    def get_type(self) -> str: ...
    def get_version(self) -> str: ...
    def get_description(self) -> str: ...
    def get_supported_entity_types(self) -> Sequence[str]: ...
    def handle(self, mutation: MutationData) -> Awaitable[None] | None: ...
    def handle_batch(self, mutations: Sequence[MutationData]) -> Awaitable[None] | None: ...
    def get_configuration_schema(self) -> ConfigurationSchema: ...


_CONTRACT_METHODS = (
    "get_name",
    "get_type",
    "get_version",
    "get_description",
    "get_supported_entity_types",
    "handle",
    "handle_batch",
    "get_configuration_schema",
)


def missing_contract_methods(driver: object) -> tuple[str, ...]:
    """The `DriverContract` methods `driver` lacks (not callable), in the contract's order."""
    return tuple(name for name in _CONTRACT_METHODS if not callable(getattr(driver, name, None)))


def _discarding_logger() -> logging.Logger:
    # The seed's NullLogger: a logger outside the hierarchy, with no handlers, that never
    # propagates, so an unbound driver's logs go nowhere.
    logger = logging.Logger("iec.driver.unbound")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


class AbstractDriver(ABC):
    """Defaults for `DriverContract`; subclass it and implement the abstract methods.

    Required (abstract; a class missing one cannot be instantiated, and the error names it):
    `get_name`, `get_type`, `get_version`, `get_configuration_schema` and `handle` (a driver
    with only a bulk API implements `handle` as ``return self.handle_batch([mutation])``).
    Optional, with defaults: `get_description` (empty), `get_supported_entity_types` (the
    class attribute `supported_entity_types`, by default every standard type),
    `handle_batch` (calls `handle` for each mutation in order; ``async`` if `handle` is),
    `open`/`close` (define them if the driver needs them; sync or ``async``).

    What the runtime binds (see `bind`): `integration_data`, `config`, `logger`,
    `mapping_service`, `context`; `integration_uuid` is a shortcut for the context's.
    """

    supported_entity_types: ClassVar[Sequence[str]] = EntityTypes.standard()

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        if missing:
            raise TypeError(
                f"{cls.__name__} cannot be instantiated: it must implement "
                f"{', '.join(f'{name}()' for name in missing)} (abstract in AbstractDriver)"
            )
        return super().__new__(cls)

    def __init__(self) -> None:
        self.integration_data: dict[str, Any] = {}
        """The seed's integrationData: ``uuid``, ``name``, ``type``, ``environment``,
        ``config`` (see `contracts.binding.IntegrationData`); empty until bound."""
        self.logger: logging.Logger = _discarding_logger()
        """A logger named for the integration once bound; until then one that discards."""
        self.config: Any = None
        """The validated configuration (see `DriverBinding.config`); None until bound."""
        self._mapping_service: EntityMappingService | None = None
        self._context: IntegrationContext | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The default handle_batch follows handle: async if handle is (recomputed for every
        # subclass that leaves handle_batch to the default).
        if cls.handle_batch in (AbstractDriver.handle_batch, AbstractDriver._handle_batch_async):
            cls.handle_batch = (  # type: ignore[method-assign]
                AbstractDriver._handle_batch_async
                if inspect.iscoroutinefunction(cls.handle)
                else AbstractDriver.handle_batch
            )

    # -- identity -------------------------------------------------------------------------
    @abstractmethod
    def get_name(self) -> str:
        """A human-readable name, e.g. ``"Magento 2"``."""

    @abstractmethod
    def get_type(self) -> str:
        """The type an integration names in its ``driver:`` setting, e.g. ``"magento2"``."""

    @abstractmethod
    def get_version(self) -> str:
        """The driver's semantic version, e.g. ``"1.2.0"``."""

    def get_description(self) -> str:
        return ""

    # -- capabilities ---------------------------------------------------------------------
    def get_supported_entity_types(self) -> Sequence[str]:
        return tuple(self.supported_entity_types)

    # -- processing -----------------------------------------------------------------------
    @abstractmethod
    def handle(self, mutation: MutationData) -> Awaitable[None] | None:
        """Apply one mutation downstream (plain or ``async def``)."""

    def handle_batch(self, mutations: Sequence[MutationData]) -> Awaitable[None] | None:
        """Handle mutations of one entity type in order; the default calls `handle` for each."""
        for mutation in mutations:
            self.handle(mutation)
        return None

    async def _handle_batch_async(self, mutations: Sequence[MutationData]) -> None:
        for mutation in mutations:
            result = self.handle(mutation)
            if result is not None:
                await result

    # -- configuration --------------------------------------------------------------------
    @abstractmethod
    def get_configuration_schema(self) -> ConfigurationSchema:
        """A pydantic model class, or Laravel-style rules (see `ConfigurationSchema`)."""

    # -- what the runtime binds -----------------------------------------------------------
    def bind(self, binding: DriverBinding) -> None:
        """Take what the runtime gives before the first mutation (`contracts.binding`).

        Override to derive something from the configuration; call ``super().bind(binding)``
        first.
        """
        self.integration_data = dict(binding.integration_data)
        self.config = binding.config
        self.logger = binding.logger
        self._mapping_service = binding.mapping_service
        self._context = binding.context

    @property
    def mapping_service(self) -> EntityMappingService:
        """This integration's mapping service (bound by the runtime before the first mutation)."""
        if self._mapping_service is None:
            raise RuntimeError(f"{type(self).__name__}: no mapping service bound yet")
        return self._mapping_service

    @mapping_service.setter
    def mapping_service(self, service: EntityMappingService) -> None:
        self._mapping_service = service

    @property
    def async_mapping_service(self) -> AsyncMappingService:
        """The bound mapping service's awaitable form (``await ...acreate(...)``), for async
        drivers: the service itself if it is awaitable, else a view that runs each blocking
        call in a worker thread (`contracts.async_mapping`)."""
        return awaitable_mapping_service(self.mapping_service)

    @property
    def context(self) -> IntegrationContext:
        """This integration's context (bound by the runtime before the first mutation)."""
        if self._context is None:
            raise RuntimeError(f"{type(self).__name__}: no integration context bound yet")
        return self._context

    @context.setter
    def context(self, context: IntegrationContext) -> None:
        self._context = context

    @property
    def integration_uuid(self) -> str:
        """The integration's uuid: pass it to every mapping-service call."""
        return self.context.integration_uuid


def is_async_driver(driver: DriverContract) -> bool:
    """Whether the runtime must await `handle_batch` (True) or run it in a thread (False)."""
    return inspect.iscoroutinefunction(driver.handle_batch)
