"""The one typed step by which a driver gets its integration data, config, logger, mappings and
context, the same in the runtime and in the test harness."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from contracts import (
    AbstractDriver,
    ConfigurationSchema,
    DriverBinding,
    IntegrationContext,
    MutationData,
    RetryPolicy,
    bind_driver,
    current_deadline,
    validate_configuration,
)
from contracts.testing import DriverHarness, InMemoryMappingService, make_context, make_mutation

RULES = {"base_url": "required|url", "api_key": "required|string"}


class Driver(AbstractDriver):
    def __init__(self) -> None:
        super().__init__()
        self.deadlines: list[float] = []
        self.bound_with: DriverBinding | None = None

    def get_name(self) -> str:
        return "Bound"

    def get_type(self) -> str:
        return "bound"

    def get_version(self) -> str:
        return "1.0.0"

    def get_configuration_schema(self) -> ConfigurationSchema:
        return RULES

    def bind(self, binding: DriverBinding) -> None:
        super().bind(binding)
        self.bound_with = binding

    def handle(self, mutation: MutationData) -> None:
        deadline = current_deadline()
        assert deadline is not None
        self.deadlines.append(deadline.timeout_s)


def binding(context: IntegrationContext | None = None) -> DriverBinding:
    config = validate_configuration(RULES, {"base_url": "https://shop.test", "api_key": "k-1"})
    return DriverBinding(
        context=context or make_context(),
        driver_type="bound",
        config=config,
        logger=logging.getLogger("iec.integration.shop"),
        mapping_service=InMemoryMappingService(),
    )


def test_an_abstract_driver_takes_everything_from_one_binding() -> None:
    given = binding()
    driver = Driver()
    bind_driver(driver, given)
    assert driver.bound_with is given
    assert driver.config is given.config
    assert driver.logger is given.logger
    assert driver.mapping_service is given.mapping_service
    assert driver.context is given.context
    assert driver.integration_uuid == given.context.integration_uuid
    assert driver.integration_data == {
        "uuid": given.context.integration_uuid,
        "name": "contract-test",
        "type": "bound",
        "environment": "test",
        "config": {"base_url": "https://shop.test", "api_key": SecretStr("k-1")},
    }


def test_a_plain_contract_implementation_gets_the_seeds_attributes() -> None:
    class Plain:
        integration_data: Any = None
        config: Any = None
        logger: Any = None
        mapping_service: Any = None
        context: Any = None

    given = binding()
    plain = Plain()
    bind_driver(plain, given)
    assert plain.integration_data["environment"] == "test"
    assert plain.config is given.config
    assert plain.logger is given.logger
    assert plain.mapping_service is given.mapping_service
    assert plain.context is given.context


def test_the_driver_reads_its_handle_timeout_deadline_and_retry_policy() -> None:
    retry = RetryPolicy(max_attempts=3, initial_backoff_s=0.25, max_backoff_s=1.0)
    context = IntegrationContext(
        integration_uuid="00000000-0000-4000-8000-000000000001",
        integration_name="shop",
        handle_timeout_s=7.5,
        retry=retry,
    )
    driver = Driver()
    config = {"base_url": "https://shop.test", "api_key": "k"}
    with DriverHarness(driver, config=config, context=context) as harness:
        harness.handle(make_mutation())
        harness.handle_batch([make_mutation()])
        assert harness.binding is driver.bound_with
    assert driver.deadlines == [7.5, 7.5]  # each call runs under the handle timeout
    assert driver.context.retry.max_attempts == 3
    assert [retry.delay(n) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 1.0]
    outside = driver.context.deadline()
    assert outside.timeout_s == 7.5
    assert 0 < outside.remaining() <= 7.5


def test_an_async_driver_sees_the_deadline_inside_its_coroutine() -> None:
    class Async(Driver):
        async def handle(self, mutation: MutationData) -> None:  # type: ignore[override]
            await asyncio.sleep(0)
            Driver.handle(self, mutation)

        async def handle_batch(self, mutations: Sequence[MutationData]) -> None:
            for mutation in mutations:
                await self.handle(mutation)

    driver = Async()
    context = IntegrationContext(integration_uuid="u", integration_name="n", handle_timeout_s=3.0)
    config = {"base_url": "https://shop.test", "api_key": "k"}
    with DriverHarness(driver, config=config, context=context) as harness:
        harness.handle_batch([make_mutation(), make_mutation()])
    assert driver.deadlines == [3.0, 3.0]


def test_the_binding_keeps_a_pydantic_models_configuration_as_it_is() -> None:
    class Config(BaseModel):
        endpoint: str
        token: SecretStr

    config = Config(endpoint="https://x.test", token=SecretStr("t"))
    given = DriverBinding(
        context=make_context(),
        driver_type="bound",
        config=config,
        logger=logging.getLogger("x"),
        mapping_service=InMemoryMappingService(),
    )
    assert given.integration_data["config"] == {"endpoint": "https://x.test", "token": config.token}
    with pytest.raises(AttributeError):
        given.driver_type = "other"  # type: ignore[misc]
