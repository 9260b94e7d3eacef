"""`DriverContractSuite`: the contract tests a driver author runs with pytest, no Kafka needed.

Subclass it in a test module, name the subclass ``Test...`` and override the `driver`
fixture (and `driver_config` if the schema has required fields)::

    from contracts.testing.suite import DriverContractSuite

    class TestMyDriver(DriverContractSuite):
        @pytest.fixture
        def driver(self):
            return MyDriver()

        @pytest.fixture
        def driver_config(self):
            return {"base_url": "https://shop.test", "api_key": "test-key"}

For a real idempotence check, override `downstream_snapshot` to return a callable that
snapshots your fake downstream (by default it snapshots the mapping service). Async drivers
run on one event loop per test; `open()`/`close()` are called if the driver has them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from contracts.context import IntegrationContext
from contracts.driver import DriverContract, missing_contract_methods
from contracts.errors import ConfigValidationError
from contracts.testing import checks
from contracts.testing.factories import MutationFactory
from contracts.testing.harness import DriverHarness, make_context
from contracts.testing.mapping_service import InMemoryMappingService

__all__ = ["DriverContractSuite"]


class DriverContractSuite:
    """The contract tests; override the `driver` fixture in a ``Test...`` subclass."""

    large_payload_bytes: int = 1_048_576
    """Size of the "large payload" case (at least this many bytes of JSON)."""

    # -- fixtures to override ---------------------------------------------------------------
    @pytest.fixture
    def driver(self) -> DriverContract:
        """A fresh, unbound driver instance. Override this."""
        pytest.fail(f"{type(self).__name__}: override the `driver` fixture to return your driver")

    @pytest.fixture
    def driver_config(self) -> Mapping[str, Any]:
        """A valid configuration for the driver (override if the schema requires keys)."""
        return {}

    @pytest.fixture
    def downstream_snapshot(self, mapping_service: InMemoryMappingService) -> checks.Snapshot:
        """A callable returning a comparable snapshot of the (fake) downstream."""
        return mapping_service.snapshot

    # -- fixtures with sensible defaults ----------------------------------------------------
    @pytest.fixture
    def integration_context(self) -> IntegrationContext:
        return make_context()

    @pytest.fixture
    def mapping_service(self, integration_context: IntegrationContext) -> InMemoryMappingService:
        return InMemoryMappingService(integration_uuid=integration_context.integration_uuid)

    @pytest.fixture
    def mutation_factory(self) -> MutationFactory:
        return MutationFactory(seed=20240101)

    @pytest.fixture
    def entity_types(self, driver: DriverContract) -> Sequence[str]:
        return list(driver.get_supported_entity_types())

    @pytest.fixture
    def harness(
        self,
        driver: DriverContract,
        driver_config: Mapping[str, Any],
        mapping_service: InMemoryMappingService,
        integration_context: IntegrationContext,
    ) -> Iterator[DriverHarness]:
        """The driver bound like the runtime binds it, opened and (afterwards) closed."""
        harness = DriverHarness(
            driver,
            config=driver_config,
            mapping_service=mapping_service,
            context=integration_context,
        )
        problem: ConfigValidationError | None = None
        try:
            harness.open()
        except ConfigValidationError as exc:
            problem = exc
        if problem is not None:
            harness.close()
            pytest.fail(
                f"override `driver_config` with a configuration your schema accepts: {problem}"
            )
        try:
            yield harness
        finally:
            harness.close()

    # -- identity, capabilities, configuration ---------------------------------------------
    def test_driver_implements_the_driver_contract(self, driver: DriverContract) -> None:
        missing = missing_contract_methods(driver)
        if missing:
            raise checks.ContractViolationError(
                f"{type(driver).__name__} lacks methods of DriverContract: {', '.join(missing)} "
                f"(subclass contracts.AbstractDriver for defaults of the optional ones)"
            )

    def test_identity_methods_return_non_empty_strings_and_a_semantic_version(
        self, driver: DriverContract
    ) -> None:
        checks.check_identity(driver)

    def test_supported_entity_types_are_non_empty_strings(self, driver: DriverContract) -> None:
        checks.check_supported_entity_types(driver)

    def test_configuration_schema_translates_to_a_json_schema(self, driver: DriverContract) -> None:
        checks.check_configuration_schema(driver)

    # -- processing ---------------------------------------------------------------------------
    def test_handle_processes_a_created_mutation_of_every_type(
        self, harness: DriverHarness, mutation_factory: MutationFactory, entity_types: Sequence[str]
    ) -> None:
        checks.check_single_handle(harness, mutation_factory, entity_types)

    def test_created_updated_deleted_succeeds_for_every_supported_type(
        self, harness: DriverHarness, mutation_factory: MutationFactory, entity_types: Sequence[str]
    ) -> None:
        checks.check_lifecycle(harness, mutation_factory, entity_types)

    def test_empty_payload_is_handled_or_rejected_with_a_contract_error(
        self, harness: DriverHarness, mutation_factory: MutationFactory, entity_types: Sequence[str]
    ) -> None:
        checks.check_edge_payload(harness, mutation_factory, entity_types, "empty")

    def test_unicode_payload_is_handled(
        self, harness: DriverHarness, mutation_factory: MutationFactory, entity_types: Sequence[str]
    ) -> None:
        checks.check_edge_payload(harness, mutation_factory, entity_types, "unicode")

    def test_large_payload_is_handled_or_rejected_with_a_contract_error(
        self, harness: DriverHarness, mutation_factory: MutationFactory, entity_types: Sequence[str]
    ) -> None:
        checks.check_edge_payload(
            harness, mutation_factory, entity_types, "large", large_bytes=self.large_payload_bytes
        )

    def test_malformed_payload_is_handled_or_rejected_with_a_contract_error(
        self, harness: DriverHarness, mutation_factory: MutationFactory, entity_types: Sequence[str]
    ) -> None:
        checks.check_edge_payload(harness, mutation_factory, entity_types, "malformed")

    def test_delete_of_an_unknown_entity_does_not_raise(
        self, harness: DriverHarness, mutation_factory: MutationFactory, entity_types: Sequence[str]
    ) -> None:
        checks.check_delete_of_unknown_entity(harness, mutation_factory, entity_types)

    def test_mixed_batch_of_each_type_succeeds(
        self, harness: DriverHarness, mutation_factory: MutationFactory, entity_types: Sequence[str]
    ) -> None:
        checks.check_mixed_batches(harness, mutation_factory, entity_types)

    def test_replayed_batch_leaves_the_downstream_unchanged(
        self,
        harness: DriverHarness,
        mutation_factory: MutationFactory,
        entity_types: Sequence[str],
        downstream_snapshot: checks.Snapshot,
    ) -> None:
        checks.check_replay_is_idempotent(
            harness, mutation_factory, entity_types, downstream_snapshot
        )

    def test_mutations_and_batches_are_left_unchanged(
        self, harness: DriverHarness, mutation_factory: MutationFactory, entity_types: Sequence[str]
    ) -> None:
        checks.check_mutations_left_unchanged(harness, mutation_factory, entity_types)
