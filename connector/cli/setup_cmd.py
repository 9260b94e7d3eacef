"""`iec-connector setup --config FILE [--integration NAME]`: one-time setup downstream.

Some drivers need something made once before they run (the sql driver: its tables). Such a
driver has a ``setup()`` hook; this command calls it for each enabled integration (or the
one named):

1. Load and validate the configuration, as `run` does.
2. Build each integration's driver and bind it as the runtime does, but without Kafka (no
   mapping service: `setup()` must not need one).
3. Call ``setup()`` (awaited if async), then ``close()``.

Run it as a user with the rights setup needs (e.g. CREATE on the database) when the
connector's own user has fewer; drivers without the hook are listed as skipped.
Exit status: 0 when every setup succeeded, 1 when one failed, 2 for a bad configuration.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from connector.cli.config_cmd import discover_drivers, exit_with_problems, required_file
from connector.config import CONFIG_PATH_ENV, IntegrationSettings, load_and_validate
from connector.driver_registry import DriverRegistry
from contracts import (
    ConfigValidationError,
    DriverBinding,
    IntegrationContext,
    IntegrationError,
    MappingData,
    bind_driver,
)

__all__ = ["setup"]

EXIT_SETUP_FAILED = 1


class _NoMappings:
    """The binding's mapping service during setup: there is none."""

    def find(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> MappingData | None:
        raise RuntimeError("setup() has no mapping service")

    def create(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_id: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        raise RuntimeError("setup() has no mapping service")


async def _setup_and_close(
    setup_hook: Callable[[], object], close_hook: Callable[[], object] | None
) -> None:
    try:
        result = setup_hook()
        if inspect.isawaitable(result):
            await result
    finally:
        if close_hook is not None:
            closed = close_hook()
            if inspect.isawaitable(closed):
                await closed


def setup(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar=CONFIG_PATH_ENV,
            show_default=False,
            help=f"The YAML configuration (default: ${CONFIG_PATH_ENV}).",
        ),
    ] = None,
    integration: Annotated[
        str | None,
        typer.Option("--integration", help="Only this integration (name or uuid)."),
    ] = None,
) -> None:
    """Run each integration driver's one-time setup (the sql driver creates its tables)."""
    # 1. configuration
    file = required_file(config)
    registry = discover_drivers()
    try:
        settings, driver_configs = load_and_validate(file, registry)
    except ConfigValidationError as exc:
        raise exit_with_problems(exc.problems) from None
    chosen = [
        i
        for i in settings.enabled_integrations()
        if integration is None or integration in (i.name, i.uuid)
    ]
    if not chosen:
        typer.echo(f"error: no enabled integration {integration!r} in {file}", err=True)
        raise typer.Exit(2)
    failed = _run(chosen, registry, driver_configs, settings.runtime.environment)
    if failed:
        raise typer.Exit(EXIT_SETUP_FAILED)


def _run(
    integrations: Iterable[IntegrationSettings],
    registry: DriverRegistry,
    configs: Mapping[str, BaseModel],
    environment: str,
) -> bool:
    failed = False
    for settings in integrations:
        # 2. bind
        driver = registry.create(settings.driver)
        setup_hook = getattr(driver, "setup", None)
        if not callable(setup_hook):
            typer.echo(f"{settings.name}: skipped (the {settings.driver} driver needs no setup)")
            continue
        context = IntegrationContext(settings.uuid, settings.name, environment=environment)
        binding = DriverBinding(
            context=context,
            driver_type=settings.driver,
            config=configs[settings.uuid],
            logger=logging.getLogger(f"iec.integration.{settings.name}"),
            mapping_service=_NoMappings(),
        )
        bind_driver(driver, binding)
        # 3. setup
        try:
            asyncio.run(_setup_and_close(setup_hook, getattr(driver, "close", None)))
        except IntegrationError as exc:
            typer.echo(f"{settings.name}: setup failed: {exc}", err=True)
            failed = True
            continue
        typer.echo(f"{settings.name}: set up ({settings.driver})")
    return failed
