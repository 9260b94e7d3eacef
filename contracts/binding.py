"""`DriverBinding`: everything the runtime hands a driver before its first mutation, in one step.

The runtime (and `contracts.testing.DriverHarness`, which mirrors it) binds a driver like this:

1. Build the driver with no arguments (the ``iec.drivers`` entry point names its class).
2. Validate the integration's configuration against `get_configuration_schema()`.
3. Build one `DriverBinding` (context, validated configuration, logger, mapping service) and
   call `bind_driver(driver, binding)`: an `AbstractDriver` (or any driver with a
   ``bind(binding)`` method) gets `bind(binding)`; a plain `DriverContract` implementation
   gets the seed's attributes set on it (`integration_data`, `config`, `logger`,
   `mapping_service`, `context`).
4. Call ``open()`` if the driver has one; then mutations; ``close()`` at shutdown.

A driver that needs something at bind time (e.g. to read a setting into a field) overrides
`AbstractDriver.bind` and calls ``super().bind(binding)`` first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict, runtime_checkable

from pydantic import BaseModel

from contracts.context import IntegrationContext
from contracts.mapping import EntityMappingService

__all__ = ["BindableDriver", "DriverBinding", "IntegrationData", "bind_driver"]


class IntegrationData(TypedDict):
    """The seed's ``integrationData``: the integration a driver runs for, as plain data."""

    uuid: str
    """The integration's uuid (also `IntegrationContext.integration_uuid`)."""
    name: str
    """The integration's name (also `IntegrationContext.integration_name`)."""
    type: str
    """The driver type the integration names (``driver:`` in the configuration)."""
    environment: str
    """The runtime's environment (also `IntegrationContext.environment`)."""
    config: dict[str, Any]
    """The validated configuration as a dict, by the keys the configuration uses; secret
    values are `pydantic.SecretStr` here too (``.get_secret_value()`` reads one)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DriverBinding:
    """What a driver is given: see the module docstring for when and how."""

    context: IntegrationContext
    """Identity, environment, clock, feature flags, deadline and retry policy."""
    driver_type: str
    """The driver type the integration names (``driver:`` in the configuration)."""
    config: BaseModel
    """The configuration validated by the driver's schema: an instance of the schema's
    pydantic model, or for rule schemas of a generated model (attribute or item access by
    key: ``config.base_url``, ``config["api-key"]``; secret keys hold `SecretStr`)."""
    logger: logging.Logger
    """A logger named for the integration (``iec.integration.<name>``)."""
    mapping_service: EntityMappingService
    """This integration's mapping service (it may also implement `MappingServiceExtensions`
    and `AsyncMappingService`)."""

    @property
    def integration_data(self) -> IntegrationData:
        """The seed's ``integrationData`` (a fresh dict on every call)."""
        return IntegrationData(
            uuid=self.context.integration_uuid,
            name=self.context.integration_name,
            type=self.driver_type,
            environment=self.context.environment,
            config=self.config.model_dump(),
        )


@runtime_checkable
class BindableDriver(Protocol):
    """A driver that takes its binding in one call (`AbstractDriver` is one)."""

    def bind(self, binding: DriverBinding) -> None: ...


def bind_driver(driver: object, binding: DriverBinding) -> None:
    """Step 3 of the module docstring: hand `binding` to `driver`."""
    if isinstance(driver, BindableDriver):
        driver.bind(binding)
        return
    # A plain DriverContract implementation: the seed's public attributes, set one by one.
    for name, value in (
        ("integration_data", binding.integration_data),
        ("config", binding.config),
        ("logger", binding.logger),
        ("mapping_service", binding.mapping_service),
        ("context", binding.context),
    ):
        setattr(driver, name, value)
