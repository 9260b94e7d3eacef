"""Driver discovery: real entry points of installed (test) distributions, and explicit classes."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable

import pytest
from pydantic import BaseModel

from connector.driver_registry import (
    DriverLoadError,
    DriverRegistry,
    DuplicateDriverError,
    UnknownDriverError,
)
from contracts import AbstractDriver, ConfigurationError, ConfigurationSchema, MutationData

InstallDistribution = Callable[..., str]
"""`install(entry_points, module_source)` -> distribution name; entry points name `mod:attr`."""

DRIVER_SOURCE = """
from pydantic import BaseModel
from contracts import AbstractDriver


class Config(BaseModel):
    base_url: str


def make(driver_type):
    class Driver(AbstractDriver):
        supported_entity_types = ("product",)

        def get_name(self):
            return driver_type.title()

        def get_type(self):
            return driver_type

        def get_version(self):
            return "2.0.0"

        def get_description(self):
            return "A driver from an installed distribution"

        def handle(self, mutation):
            return None

        def get_configuration_schema(self):
            return Config

    return Driver


Alpha = make("alpha")
Beta = make("beta")
AlsoAlpha = make("alpha")


class NotADriver:
    pass
"""


@pytest.fixture
def group() -> str:
    """An entry-point group of this test alone, so installed drivers don't interfere."""
    return f"iec.drivers.test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def install(install_distribution: InstallDistribution, group: str) -> InstallDistribution:
    """`install_distribution` into this test's own entry-point group."""
    return functools.partial(install_distribution, group=group)


class ShopConfig(BaseModel):
    base_url: str


class ShopDriver(AbstractDriver):
    def get_name(self) -> str:
        return "Shop"

    def get_type(self) -> str:
        return "shop"

    def get_version(self) -> str:
        return "1.0.0"

    def handle(self, mutation: MutationData) -> None:
        return None

    def get_configuration_schema(self) -> ConfigurationSchema:
        return ShopConfig


class OtherShopDriver(ShopDriver):
    """Claims the same type as `ShopDriver`."""


def test_discovers_drivers_from_installed_distributions(
    install: InstallDistribution, group: str
) -> None:
    dist = install({"alpha": "Alpha", "beta": "Beta"}, DRIVER_SOURCE)

    registry = DriverRegistry.discover(group)

    assert registry.types() == ("alpha", "beta")
    info = registry.info("alpha")
    assert (info.name, info.version, info.supported_entity_types) == (
        "Alpha",
        "2.0.0",
        ("product",),
    )
    assert info.description == "A driver from an installed distribution"
    assert info.distribution == dist
    assert info.entry_point.startswith("alpha = fake_iec_drivers_")
    assert registry.get("beta").__name__ == "Driver"


def test_create_gives_a_new_unbound_instance_each_time(
    install: InstallDistribution, group: str
) -> None:
    install({"alpha": "Alpha"}, DRIVER_SOURCE)
    registry = DriverRegistry.discover(group)

    first, second = registry.create("alpha"), registry.create("alpha")

    assert first is not second
    assert first.get_type() == "alpha"
    assert isinstance(first, AbstractDriver)
    assert first.integration_data == {}


def test_unknown_type_lists_the_known_ones() -> None:
    registry = DriverRegistry.from_classes({"shop": ShopDriver})

    with pytest.raises(UnknownDriverError) as caught:
        registry.get("magento")

    assert isinstance(caught.value, ConfigurationError)
    assert str(caught.value) == "unknown driver type 'magento'; known types: shop"
    assert caught.value.known == ("shop",)


def test_two_entry_points_with_one_type_are_refused_naming_both(
    install: InstallDistribution, group: str
) -> None:
    install({"alpha": "Alpha"}, DRIVER_SOURCE)
    install({"alpha-fork": "AlsoAlpha"}, DRIVER_SOURCE)

    with pytest.raises(DuplicateDriverError) as caught:
        DriverRegistry.discover(group)

    message = str(caught.value)
    assert "'alpha'" in message
    assert "alpha = fake_iec_drivers_" in message
    assert "alpha-fork = fake_iec_drivers_" in message


def test_duplicate_type_among_explicit_classes_is_refused() -> None:
    with pytest.raises(DuplicateDriverError, match="shop"):
        DriverRegistry.from_classes({"shop": ShopDriver, "other": OtherShopDriver})


def test_broken_entry_point_is_named_and_does_not_hide_the_others(
    install: InstallDistribution, group: str
) -> None:
    install({"alpha": "Alpha"}, DRIVER_SOURCE)
    install({"ghost": "Ghost"}, "import module_that_does_not_exist_anywhere\n")

    registry = DriverRegistry.discover(group)

    assert registry.types() == ("alpha",)
    (broken,) = registry.broken
    assert broken.name == "ghost"
    with pytest.raises(DriverLoadError) as caught:
        registry.get("ghost")
    message = str(caught.value)
    assert "ghost = fake_iec_drivers_" in message
    assert "ModuleNotFoundError" in message
    assert "module_that_does_not_exist_anywhere" in message


def test_entry_point_to_something_else_than_a_driver_is_refused(
    install: InstallDistribution, group: str
) -> None:
    install({"odd": "NotADriver", "missing": "NoSuchAttribute"}, DRIVER_SOURCE)

    registry = DriverRegistry.discover(group)

    assert len(registry) == 0
    reasons = {b.name: str(b.error) for b in registry.broken}
    assert "does not implement contracts.DriverContract" in reasons["odd"]
    assert "AttributeError" in reasons["missing"]


def test_explicit_classes_behave_like_entry_points() -> None:
    registry = DriverRegistry.from_classes({"shop": ShopDriver})

    assert "shop" in registry
    assert registry.get("shop") is ShopDriver
    assert isinstance(registry.create("shop"), ShopDriver)
    info = registry.info("shop")
    assert info.distribution is None
    assert info.entry_point.endswith(":ShopDriver")
    assert info.supported_entity_types == ("product", "category", "attribute", "family")
