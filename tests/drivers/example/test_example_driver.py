"""ExampleDriver: the contract suite, plus what it observably does."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

import pytest

from contracts import (
    ConfigValidationError,
    MutationData,
    is_async_driver,
    validate_configuration,
)
from contracts.testing import DriverHarness, InMemoryMappingService, MutationFactory
from contracts.testing.suite import DriverContractSuite
from drivers.example import ExampleDriver

CONFIG = {"base_url": "https://shop.example.test/api", "api_key": "example-secret-key"}


class TestExampleDriverContract(DriverContractSuite):
    @pytest.fixture
    def driver(self) -> ExampleDriver:
        return ExampleDriver()

    @pytest.fixture
    def driver_config(self) -> Mapping[str, Any]:
        return CONFIG


@pytest.fixture
def service() -> InMemoryMappingService:
    return InMemoryMappingService()


@pytest.fixture
def harness(service: InMemoryMappingService) -> Any:
    with DriverHarness(ExampleDriver(), config=CONFIG, mapping_service=service) as bound:
        yield bound


def test_identity_is_the_seeds() -> None:
    driver = ExampleDriver()
    assert (driver.get_name(), driver.get_type(), driver.get_version()) == (
        "Example",
        "example",
        "1.0.0",
    )
    assert driver.get_description()
    assert driver.get_configuration_schema() == {
        "base_url": "required|url",
        "api_key": "required|string",
    }


def test_is_registered_as_the_example_entry_point() -> None:
    (entry,) = [e for e in entry_points(group="iec.drivers") if e.name == "example"]
    assert entry.load() is ExampleDriver


def test_configuration_needs_a_url_and_an_api_key() -> None:
    with pytest.raises(ConfigValidationError) as caught:
        validate_configuration(
            ExampleDriver().get_configuration_schema(), {"base_url": "not a url"}
        )
    assert {(p.path, p.rule) for p in caught.value.problems} == {
        ("base_url", "url"),
        ("api_key", "required"),
    }


def test_api_key_is_kept_secret_in_the_validated_configuration() -> None:
    config = validate_configuration(ExampleDriver().get_configuration_schema(), CONFIG)
    assert CONFIG["api_key"] not in repr(config)
    assert config.api_key.get_secret_value() == CONFIG["api_key"]  # type: ignore[attr-defined]


def test_created_creates_one_mapping_with_a_deterministic_external_id(
    harness: DriverHarness, service: InMemoryMappingService
) -> None:
    created, _, _ = MutationFactory().lifecycle("product")
    harness.handle_batch([created, created])
    mapping = service.find("product", created.entity_uuid, harness.context.integration_uuid)
    assert mapping is not None
    assert mapping.external_id == ExampleDriver.external_id("product", created.entity_uuid)
    assert mapping.external_data == {"key": created.payload["sku"], "version": 1}
    assert service.creates == 1


def test_updated_refreshes_the_mapping_and_an_older_replay_does_not_regress_it(
    harness: DriverHarness, service: InMemoryMappingService
) -> None:
    created, updated, _ = MutationFactory().lifecycle("category")
    harness.handle_batch([created, updated])
    harness.handle_batch([created])
    mapping = service.find("category", created.entity_uuid, harness.context.integration_uuid)
    assert mapping is not None
    assert mapping.external_data == {"key": created.payload["code"], "version": 2}
    assert (service.creates, service.updates) == (1, 1)


def test_deleted_removes_the_mapping(
    harness: DriverHarness, service: InMemoryMappingService
) -> None:
    created, updated, deleted = MutationFactory().lifecycle("family")
    harness.handle_batch([created, updated, deleted])
    assert service.count() == 0
    assert service.deletes == 1


def test_every_mutation_is_logged_with_type_uuid_and_operation(
    harness: DriverHarness, caplog: pytest.LogCaptureFixture
) -> None:
    created, updated, deleted = MutationFactory().lifecycle("attribute")
    with caplog.at_level(logging.INFO, logger=harness.logger.name):
        harness.handle_batch([created, updated, deleted])
    handled = [r for r in caplog.records if r.getMessage() == "Handling mutation"]
    assert [(r.type, r.uuid, r.op) for r in handled] == [  # type: ignore[attr-defined]
        ("attribute", created.entity_uuid, op) for op in ("created", "updated", "deleted")
    ]
    assert CONFIG["api_key"] not in caplog.text


def test_imports_without_the_connector_or_a_kafka_client() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('connector', 'confluent_kafka', 'aiokafka'):\n"
        "    sys.modules[name] = None\n"
        "import drivers.example\n"
        "assert drivers.example.ExampleDriver().get_type() == 'example'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


class SeedOnlyMappingService:
    """Just the seed's find/create, no extensions (a minimal third-party service)."""

    def __init__(self) -> None:
        self.inner = InMemoryMappingService()

    def find(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> Any:
        return self.inner.find(entity_type, entity_uuid, integration_uuid)

    def create(self, *args: Any) -> None:
        self.inner.create(*args)


def test_with_a_seed_only_mapping_service_updates_overwrite_and_deletes_keep_the_mapping() -> None:
    service = SeedOnlyMappingService()
    created, updated, deleted = MutationFactory().lifecycle("product")
    with DriverHarness(ExampleDriver(), config=CONFIG, mapping_service=service) as bound:
        bound.handle_batch([created, updated, deleted])
    mapping = service.inner.find("product", created.entity_uuid, bound.context.integration_uuid)
    assert mapping is not None
    assert mapping.external_data == {"key": created.payload["sku"], "version": 2}
    assert (service.inner.creates, service.inner.deletes) == (2, 0)


class CountingBulkService(InMemoryMappingService):
    """The in-memory service, counting the awaitable calls the fast path makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def afind_many(self, entity_type: str, entity_uuids: Any, integration_uuid: str) -> Any:
        self.calls.append("afind_many")
        return await super().afind_many(entity_type, entity_uuids, integration_uuid)

    async def acreate_many(self, mappings: Any, integration_uuid: str) -> None:
        self.calls.append("acreate_many")
        await super().acreate_many(mappings, integration_uuid)

    async def adelete_many(self, entity_type: str, entity_uuids: Any, integration_uuid: str) -> int:
        self.calls.append("adelete_many")
        return await super().adelete_many(entity_type, entity_uuids, integration_uuid)

    async def aupdate_external_data(self, *args: Any) -> None:
        self.calls.append("aupdate_external_data")
        await super().aupdate_external_data(*args)


def test_handle_batch_is_async_and_a_batch_of_new_entities_is_one_lookup_and_one_write() -> None:
    assert is_async_driver(ExampleDriver())
    service = CountingBulkService()
    factory = MutationFactory(seed=3)
    batch = [factory.mutation("product") for _ in range(250)]
    with DriverHarness(ExampleDriver(), config=CONFIG, mapping_service=service) as bound:
        bound.handle_batch(batch)
    assert service.calls == ["afind_many", "acreate_many"]
    assert service.count() == 250
    assert service.creates == 250


def test_an_entity_twice_in_a_batch_takes_a_second_round_in_order() -> None:
    service = CountingBulkService()
    created, updated, deleted = MutationFactory(seed=4).lifecycle("category")
    other = MutationFactory(seed=5).mutation("category")
    with DriverHarness(ExampleDriver(), config=CONFIG, mapping_service=service) as bound:
        bound.handle_batch([created, other, updated, deleted])
    assert service.calls == [
        "afind_many",
        "acreate_many",  # round 1: created + other
        "aupdate_external_data",  # round 2: updated
        "adelete_many",  # round 3: deleted
    ]
    assert list(service.snapshot()) == [
        (bound.context.integration_uuid, "category", other.entity_uuid)
    ]


def _random_batches(seed: int) -> list[list[MutationData]]:
    """Random batches over a few entities: creates, updates, deletes, replays of old versions."""
    rng = random.Random(seed)
    factory = MutationFactory(seed=seed)
    entities = [factory.uuid() for _ in range(6)]
    versions = dict.fromkeys(entities, 0)
    batches = []
    for _ in range(8):
        batch = []
        for _ in range(rng.randint(1, 10)):
            entity = rng.choice(entities)
            operation = rng.choice(["created", "updated", "updated", "deleted"])
            replay = versions[entity] > 1 and rng.random() < 0.2
            version = rng.randint(1, versions[entity]) if replay else versions[entity] + 1
            versions[entity] = max(versions[entity], version)
            batch.append(
                factory.mutation(
                    "product",
                    operation,
                    None if operation == "deleted" else {"sku": f"S-{entity[:4]}-{version}"},
                    entity_uuid=entity,
                    version=version,
                )
            )
        batches.append(batch)
    return batches


@pytest.mark.parametrize("seed", range(20))
def test_the_fast_path_ends_where_handling_one_by_one_ends(seed: int) -> None:
    batched, one_by_one = InMemoryMappingService(), InMemoryMappingService()
    with (
        DriverHarness(ExampleDriver(), config=CONFIG, mapping_service=batched) as fast,
        DriverHarness(ExampleDriver(), config=CONFIG, mapping_service=one_by_one) as slow,
    ):
        for batch in _random_batches(seed):
            fast.handle_batch(batch)
            for mutation in batch:
                slow.handle(mutation)
    assert batched.snapshot() == one_by_one.snapshot()
    counts = (batched.creates, batched.updates, batched.deletes)
    assert counts == (one_by_one.creates, one_by_one.updates, one_by_one.deletes)
