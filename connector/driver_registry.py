"""Driver discovery through the ``iec.drivers`` entry-point group.

A distribution registers a driver class (implementing `contracts.DriverContract`, usually an
`AbstractDriver` subclass) under the group; the shipped drivers do the same::

    [project.entry-points."iec.drivers"]
    example = "drivers.example:ExampleDriver"

The registry keys drivers by what they answer to `get_type()` (what an integration's
``driver:`` names). Discovery instantiates each class once, with no arguments, to read its
identity, as the runtime will do per integration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from contracts import (
    ConfigurationError,
    DriverContract,
    configuration_json_schema,
    missing_contract_methods,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "BrokenDriver",
    "DriverInfo",
    "DriverLoadError",
    "DriverRegistry",
    "DuplicateDriverError",
    "UnknownDriverError",
]

ENTRY_POINT_GROUP = "iec.drivers"


class UnknownDriverError(ConfigurationError):
    """No driver has the requested type; the message lists the known ones."""

    def __init__(self, driver_type: str, known: Sequence[str]):
        self.driver_type = driver_type
        self.known = tuple(known)
        listed = ", ".join(self.known) if self.known else "none installed"
        super().__init__(f"unknown driver type {driver_type!r}; known types: {listed}")


class DuplicateDriverError(ConfigurationError):
    """Two entry points provide drivers of the same type."""

    def __init__(self, driver_type: str, first: str, second: str):
        self.driver_type = driver_type
        self.entry_points = (first, second)
        super().__init__(
            f"two drivers claim type {driver_type!r}: {first} and {second}; "
            "uninstall one of the distributions"
        )


class DriverLoadError(ConfigurationError):
    """An entry point could not be loaded, or does not name a usable driver class."""

    def __init__(self, entry_point: str, reason: str):
        self.entry_point = entry_point
        self.reason = reason
        super().__init__(f"driver entry point {entry_point} failed to load: {reason}")


@dataclass(frozen=True, slots=True)
class DriverInfo:
    """What `iec-connector drivers list` shows about one driver."""

    type: str
    name: str
    version: str
    description: str
    supported_entity_types: tuple[str, ...]
    entry_point: str
    """``name = module:attr`` as registered."""
    distribution: str | None
    """The installed distribution that registered it (None for `from_classes`)."""
    schema_problem: str | None = None
    """Why `get_configuration_schema()` is unusable (no integration of this type can be
    configured), or None when its schema translates into a JSON Schema."""


@dataclass(frozen=True, slots=True)
class BrokenDriver:
    """An entry point that failed to load; asking for its name raises `error`."""

    name: str
    error: DriverLoadError


class DriverRegistry:
    """The installed drivers by type: `get`, `create`, `info`, `types`."""

    def __init__(
        self,
        drivers: Mapping[str, tuple[type[DriverContract], DriverInfo]],
        broken: Iterable[BrokenDriver] = (),
    ):
        self._drivers = dict(sorted(drivers.items()))
        self._broken = {entry.name: entry for entry in broken}

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def discover(cls, group: str = ENTRY_POINT_GROUP) -> DriverRegistry:
        """Load every entry point of `group`.

        A broken entry point does not stop discovery (the other drivers stay usable); it is
        listed in `broken` and raises `DriverLoadError` when its name is asked for. Two
        drivers of one type raise `DuplicateDriverError` at once: which one runs would be
        an accident of installation order.
        """
        loaded: list[tuple[str, type[DriverContract], str | None]] = []
        broken = []
        for entry_point in entry_points(group=group):
            label = _label(entry_point)
            try:
                driver_class = _load(entry_point)
            except DriverLoadError as exc:
                broken.append(BrokenDriver(entry_point.name, exc))
                continue
            distribution = entry_point.dist.name if entry_point.dist is not None else None
            loaded.append((label, driver_class, distribution))
        return cls._build(loaded, broken)

    @classmethod
    def from_classes(cls, classes: Mapping[str, type[DriverContract]]) -> DriverRegistry:
        """A registry of explicit classes (keys play the entry-point names), for tests."""
        loaded: list[tuple[str, type[DriverContract], str | None]] = []
        for name, driver_class in classes.items():
            label = f"{name} = {driver_class.__module__}:{driver_class.__qualname__}"
            loaded.append((label, driver_class, None))
        return cls._build(loaded, [])

    @classmethod
    def _build(
        cls,
        loaded: Iterable[tuple[str, type[DriverContract], str | None]],
        broken: list[BrokenDriver],
    ) -> DriverRegistry:
        drivers: dict[str, tuple[type[DriverContract], DriverInfo]] = {}
        for label, driver_class, distribution in loaded:
            name = label.split(" = ", 1)[0]
            try:
                info = _describe(driver_class, label, distribution)
            except DriverLoadError as exc:
                broken.append(BrokenDriver(name, exc))
                continue
            if info.type in drivers:
                raise DuplicateDriverError(info.type, drivers[info.type][1].entry_point, label)
            drivers[info.type] = (driver_class, info)
        return cls(drivers, broken)

    # -- lookup ---------------------------------------------------------------------------
    def types(self) -> tuple[str, ...]:
        """The known driver types, sorted."""
        return tuple(self._drivers)

    def infos(self) -> tuple[DriverInfo, ...]:
        return tuple(info for _, info in self._drivers.values())

    @property
    def broken(self) -> tuple[BrokenDriver, ...]:
        """Entry points that failed to load."""
        return tuple(self._broken.values())

    def get(self, driver_type: str) -> type[DriverContract]:
        """The driver class of `driver_type`."""
        return self._entry(driver_type)[0]

    def info(self, driver_type: str) -> DriverInfo:
        return self._entry(driver_type)[1]

    def create(self, driver_type: str) -> DriverContract:
        """A new, unbound instance of the driver (one per integration)."""
        return self.get(driver_type)()

    def __contains__(self, driver_type: object) -> bool:
        return driver_type in self._drivers

    def __len__(self) -> int:
        return len(self._drivers)

    def _entry(self, driver_type: str) -> tuple[type[DriverContract], DriverInfo]:
        try:
            return self._drivers[driver_type]
        except KeyError:
            if driver_type in self._broken:
                raise self._broken[driver_type].error from None
            raise UnknownDriverError(driver_type, self.types()) from None


def _label(entry_point: EntryPoint) -> str:
    return f"{entry_point.name} = {entry_point.value}"


def _load(entry_point: EntryPoint) -> type[DriverContract]:
    try:
        loaded = entry_point.load()
    except Exception as exc:  # any import-time failure of third-party code
        raise DriverLoadError(_label(entry_point), f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(loaded, type):
        raise DriverLoadError(_label(entry_point), "does not name a class")
    return loaded


def _identity(driver: DriverContract, label: str, method: str) -> str:
    try:
        value = getattr(driver, method)()
    except Exception as exc:
        raise DriverLoadError(label, f"{method}() raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(value, str):
        raise DriverLoadError(label, f"{method}() returned {type(value).__name__}, not a string")
    return value


def _schema_problem(driver: DriverContract) -> str | None:
    try:
        configuration_json_schema(driver.get_configuration_schema())
    except Exception as exc:  # a rule the translator refuses, a schema that is not one, ...
        return f"{type(exc).__name__}: {exc}"
    return None


def _describe(
    driver_class: type[DriverContract], label: str, distribution: str | None
) -> DriverInfo:
    try:
        driver = driver_class()
    except Exception as exc:
        raise DriverLoadError(
            label, f"cannot be instantiated without arguments: {type(exc).__name__}: {exc}"
        ) from exc
    missing = missing_contract_methods(driver)
    if missing:
        raise DriverLoadError(
            label, f"does not implement contracts.DriverContract: lacks {', '.join(missing)}"
        )
    try:
        supported = tuple(driver.get_supported_entity_types())
    except Exception as exc:
        raise DriverLoadError(
            label, f"get_supported_entity_types() raised {type(exc).__name__}: {exc}"
        ) from exc
    return DriverInfo(
        type=_identity(driver, label, "get_type"),
        name=_identity(driver, label, "get_name"),
        version=_identity(driver, label, "get_version"),
        description=_identity(driver, label, "get_description"),
        supported_entity_types=supported,
        entry_point=label,
        distribution=distribution,
        schema_problem=_schema_problem(driver),
    )
