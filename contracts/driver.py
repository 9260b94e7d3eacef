"""`DriverContract` and `AbstractDriver`: what a driver implements and what it is given.

Lifecycle (the seed's, in Python):

1. The runtime finds the driver class through the ``iec.drivers`` entry-point group and
   instantiates it with no arguments, once per integration.
2. It validates the integration's configuration against `get_configuration_schema()`.
3. Before the first mutation it sets, on the instance: `integration_data` (uuid, name, type,
   the validated `config` as a dict), `config` (the validated object), `logger` (named for the
   integration), `mapping_service` (this integration's `EntityMappingService`) and `context`
   (an `IntegrationContext`). Then it calls `open()` if the driver has one.
4. It calls `handle_batch()` with mutations of one entity type, in partition order.
5. On shutdown it calls `close()` if the driver has one.

`handle` and `handle_batch` may be plain or ``async def``; the runtime runs plain ones in a
worker thread so a slow driver never stalls consuming, and awaits async ones.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from contracts._mutation import EntityTypes, MutationData
from contracts.context import IntegrationContext
from contracts.mapping import EntityMappingService

__all__ = ["AbstractDriver", "ConfigurationSchema", "DriverContract", "is_async_driver"]

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


def _discarding_logger() -> logging.Logger:
    # The seed's NullLogger: a logger outside the hierarchy, with no handlers, that never
    # propagates, so an unbound driver's logs go nowhere.
    logger = logging.Logger("iec.driver.unbound")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


class AbstractDriver:
    """Defaults for `DriverContract`; subclass it and implement the abstract methods.

    Implement `get_name`, `get_type`, `get_version`, `handle` and `get_configuration_schema`;
    override `handle_batch` when the downstream has a bulk API. If `handle` is ``async``, the
    default `handle_batch` is ``async`` too.
    """

    supported_entity_types: ClassVar[Sequence[str]] = EntityTypes.standard()

    def __init__(self) -> None:
        self.integration_data: dict[str, Any] = {}
        self.logger: logging.Logger = _discarding_logger()
        self.config: Any = None
        self._mapping_service: EntityMappingService | None = None
        self._context: IntegrationContext | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handle = cls.__dict__.get("handle")
        if (
            handle is not None
            and inspect.iscoroutinefunction(handle)
            and not any("handle_batch" in vars(k) for k in cls.__mro__ if k is not AbstractDriver)
        ):
            cls.handle_batch = AbstractDriver._handle_batch_async  # type: ignore[method-assign]

    # -- identity -------------------------------------------------------------------------
    def get_name(self) -> str:
        raise NotImplementedError

    def get_type(self) -> str:
        raise NotImplementedError

    def get_version(self) -> str:
        raise NotImplementedError

    def get_description(self) -> str:
        return ""

    # -- capabilities ---------------------------------------------------------------------
    def get_supported_entity_types(self) -> Sequence[str]:
        return tuple(self.supported_entity_types)

    # -- processing -----------------------------------------------------------------------
    def handle(self, mutation: MutationData) -> Awaitable[None] | None:
        raise NotImplementedError

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
    def get_configuration_schema(self) -> ConfigurationSchema:
        raise NotImplementedError

    # -- what the runtime binds -----------------------------------------------------------
    @property
    def mapping_service(self) -> EntityMappingService:
        """This integration's mapping service (set by the runtime before the first mutation)."""
        if self._mapping_service is None:
            raise RuntimeError(f"{type(self).__name__}: no mapping service bound yet")
        return self._mapping_service

    @mapping_service.setter
    def mapping_service(self, service: EntityMappingService) -> None:
        self._mapping_service = service

    @property
    def context(self) -> IntegrationContext:
        """This integration's context (set by the runtime before the first mutation)."""
        if self._context is None:
            raise RuntimeError(f"{type(self).__name__}: no integration context bound yet")
        return self._context

    @context.setter
    def context(self, context: IntegrationContext) -> None:
        self._context = context

    @property
    def integration_uuid(self) -> str:
        return self.context.integration_uuid


def is_async_driver(driver: DriverContract) -> bool:
    """Whether the runtime must await `handle_batch` (True) or run it in a thread (False)."""
    return inspect.iscoroutinefunction(driver.handle_batch)
