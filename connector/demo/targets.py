"""`DemoTarget`: where the demo's catalogue goes, one small class per driver.

``iec-connector demo --driver NAME`` picks a target from `DEMO_TARGETS`. A target names the
driver and its configuration, starts and stops whatever stands in for the downstream (a fake
Magento, a webhook receiver, a database), says how many mappings a correct run leaves, and
reports what the downstream holds afterwards, with the differences from what was published.

Adding a driver to the demo is one module with a `DemoTarget` and one line in
`DEMO_TARGETS` (a factory taking `DemoOptions`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import RenderableType

from contracts import DriverContract, MutationData
from drivers.example import ExampleDriver

__all__ = [
    "DEMO_TARGETS",
    "DemoOptions",
    "DemoTarget",
    "ExampleTarget",
    "TargetReport",
    "demo_target",
]


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What the command line and the environment say about the downstream."""

    magento_url: str | None = None
    environ: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TargetReport:
    """What the downstream holds after the run, and how it differs from the catalogue."""

    view: RenderableType
    problems: list[str]


class DemoTarget(Protocol):
    name: str
    """The ``--driver`` value."""
    driver_type: str
    driver_class: type[DriverContract]

    def describe(self) -> str:
        """One line for the console: where the catalogue goes."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def driver_config(self) -> dict[str, Any]: ...

    def integration_settings(self) -> dict[str, Any]:
        """Overrides of the integration's settings (retry, handle timeout, batch)."""
        ...

    def expected_mappings(self, mutations: tuple[MutationData, ...], live: int) -> int:
        """Mappings a correct run leaves (`live`: entities whose last event is no delete)."""
        ...

    def phases(self, mutations: tuple[MutationData, ...]) -> list[tuple[MutationData, ...]]:
        """The catalogue in publishing phases: each is published once the previous one is
        handled (one phase: everything at once)."""
        ...

    def report(self, mutations: tuple[MutationData, ...]) -> TargetReport | None:
        """What the downstream holds (None if it cannot be read back)."""
        ...


class ExampleTarget:
    """The bare runtime: the example driver, which only keeps mappings."""

    name = "example"
    driver_type = "example"

    def __init__(self, options: DemoOptions) -> None:
        self.driver_class: type[DriverContract] = ExampleDriver

    def describe(self) -> str:
        return "the example driver (no downstream: it keeps one mapping per entity)"

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def driver_config(self) -> dict[str, Any]:
        # It never calls the network: a fake endpoint.
        return {"base_url": "https://example.invalid/api", "api_key": "demo-key-not-a-secret"}

    def integration_settings(self) -> dict[str, Any]:
        return {}

    def expected_mappings(self, mutations: tuple[MutationData, ...], live: int) -> int:
        return live

    def phases(self, mutations: tuple[MutationData, ...]) -> list[tuple[MutationData, ...]]:
        return [mutations]

    def report(self, mutations: tuple[MutationData, ...]) -> TargetReport | None:
        return None


def _magento(options: DemoOptions) -> DemoTarget:
    from connector.demo.magento_target import MagentoTarget

    return MagentoTarget(options)


def _sql(options: DemoOptions) -> DemoTarget:
    from connector.demo.sql_target import SqlTarget

    return SqlTarget(options)


def _webhook(options: DemoOptions) -> DemoTarget:
    from connector.demo.webhook_target import WebhookTarget

    return WebhookTarget(options)


DEMO_TARGETS: dict[str, Callable[[DemoOptions], DemoTarget]] = {
    "magento2": _magento,
    "webhook": _webhook,
    "sql": _sql,
    "example": ExampleTarget,
}
"""``--driver`` value → target factory (the first is the default)."""


def demo_target(name: str, options: DemoOptions | None = None) -> DemoTarget:
    """The target called `name` (ValueError listing the known ones otherwise)."""
    factory = DEMO_TARGETS.get(name)
    if factory is None:
        raise ValueError(f"unknown demo driver {name!r}; choose one of {', '.join(DEMO_TARGETS)}")
    return factory(options or DemoOptions())
