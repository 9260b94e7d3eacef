"""AbstractDriver's defaults and the DriverContract protocol."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Sequence

import pytest

from contracts import (
    AbstractDriver,
    ConfigurationSchema,
    DriverContract,
    EntityTypes,
    IntegrationContext,
    MutationData,
    is_async_driver,
)
from contracts.testing import InMemoryMappingService, make_mutation


class SyncDriver(AbstractDriver):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def get_name(self) -> str:
        return "Sync"

    def get_type(self) -> str:
        return "sync"

    def get_version(self) -> str:
        return "1.0.0"

    def handle(self, mutation: MutationData) -> None:
        self.seen.append(mutation.entity_uuid)

    def get_configuration_schema(self) -> ConfigurationSchema:
        return {}


class AsyncDriver(SyncDriver):
    async def handle(self, mutation: MutationData) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        self.seen.append(mutation.entity_uuid)


class AsyncBulkDriver(SyncDriver):
    async def handle(self, mutation: MutationData) -> None:  # type: ignore[override]
        self.seen.append(mutation.entity_uuid)

    async def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        self.seen.append(f"bulk:{len(mutations)}")


def batch(n: int = 3) -> list[MutationData]:
    return [make_mutation("product", "created", {}, entity_uuid=f"u{i}") for i in range(n)]


def test_defaults_match_the_seed() -> None:
    driver = SyncDriver()
    assert driver.get_supported_entity_types() == ("product", "category", "attribute", "family")
    assert tuple(driver.get_supported_entity_types()) == EntityTypes.standard()
    assert driver.get_description() == ""
    assert driver.integration_data == {}
    assert driver.config is None


def test_a_driver_missing_required_methods_cannot_be_instantiated_and_is_told_which() -> None:
    class Incomplete(AbstractDriver):
        def get_name(self) -> str:
            return "Incomplete"

    with pytest.raises(TypeError) as caught:
        Incomplete()  # type: ignore[abstract]
    message = str(caught.value)
    assert message.startswith("Incomplete cannot be instantiated")
    for method in ("get_type()", "get_version()", "handle()", "get_configuration_schema()"):
        assert method in message
    assert "get_name()" not in message
    with pytest.raises(TypeError, match="AbstractDriver cannot be instantiated"):
        AbstractDriver()  # type: ignore[abstract]


def test_optional_methods_keep_their_defaults() -> None:
    driver = SyncDriver()  # implements only the required methods
    assert driver.get_description() == ""
    assert driver.handle_batch(batch(1)) is None
    assert not hasattr(driver, "open")
    assert not hasattr(driver, "close")


def test_the_default_handle_batch_follows_handle_through_subclasses() -> None:
    class SyncAgain(AsyncDriver):
        def handle(self, mutation: MutationData) -> None:  # type: ignore[override]
            self.seen.append(mutation.entity_uuid)

    assert is_async_driver(AsyncDriver())
    driver = SyncAgain()
    assert not is_async_driver(driver)
    assert driver.handle_batch(batch(2)) is None
    assert driver.seen == ["u0", "u1"]


def test_supported_entity_types_can_be_narrowed_by_a_class_attribute() -> None:
    class ProductsOnly(SyncDriver):
        supported_entity_types = ("product",)

    assert ProductsOnly().get_supported_entity_types() == ("product",)


def test_default_handle_batch_calls_handle_in_order() -> None:
    driver = SyncDriver()
    assert driver.handle_batch(batch()) is None
    assert driver.seen == ["u0", "u1", "u2"]
    assert not is_async_driver(driver)


def test_async_handle_makes_the_default_handle_batch_async() -> None:
    driver = AsyncDriver()
    assert is_async_driver(driver)
    assert inspect.iscoroutinefunction(driver.handle_batch)
    asyncio.run(driver.handle_batch(batch()))
    assert driver.seen == ["u0", "u1", "u2"]
    assert not is_async_driver(SyncDriver())  # the sync base class is untouched


def test_an_async_drivers_own_handle_batch_is_kept() -> None:
    driver = AsyncBulkDriver()
    asyncio.run(driver.handle_batch(batch(2)))
    assert driver.seen == ["bulk:2"]


def test_unbound_mapping_service_and_context_raise_a_clear_error() -> None:
    driver = SyncDriver()
    with pytest.raises(RuntimeError, match="SyncDriver: no mapping service bound yet"):
        _ = driver.mapping_service
    with pytest.raises(RuntimeError, match="SyncDriver: no integration context bound yet"):
        _ = driver.integration_uuid


def test_bound_mapping_service_and_context_are_returned() -> None:
    driver = SyncDriver()
    service = InMemoryMappingService()
    driver.mapping_service = service
    driver.context = IntegrationContext(integration_uuid="i-1", integration_name="shop")
    assert driver.mapping_service is service
    assert driver.integration_uuid == "i-1"


def test_default_logger_discards_everything(caplog: pytest.LogCaptureFixture) -> None:
    driver = SyncDriver()
    with caplog.at_level(logging.DEBUG):
        driver.logger.error("should go nowhere")
    assert caplog.records == []
    assert driver.logger.propagate is False
    assert driver.logger.name not in logging.root.manager.loggerDict


def test_drivers_satisfy_the_driver_contract_protocol() -> None:
    assert isinstance(SyncDriver(), DriverContract)
    assert isinstance(AsyncDriver(), DriverContract)
    assert not isinstance(object(), DriverContract)


def test_a_plain_class_without_abstract_driver_can_satisfy_the_contract() -> None:
    class Plain:
        def get_name(self) -> str:
            return "Plain"

        def get_type(self) -> str:
            return "plain"

        def get_version(self) -> str:
            return "0.1.0"

        def get_description(self) -> str:
            return ""

        def get_supported_entity_types(self) -> Sequence[str]:
            return ["product"]

        def handle(self, mutation: MutationData) -> None:
            return None

        def handle_batch(self, mutations: Sequence[MutationData]) -> None:
            return None

        def get_configuration_schema(self) -> ConfigurationSchema:
            return {}

    assert isinstance(Plain(), DriverContract)
