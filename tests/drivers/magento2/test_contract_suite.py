"""The driver contract suite against the fake Magento store.

The suite demands that every operation of every type succeeds, deletes included; attribute
and family deletes are refused by default (they destroy product data), so the suite runs
with ``allow_destructive_deletes``. The refusal itself is tested in test_driver.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from magento_store import driver_config, seed_references, snapshot

from contracts import IntegrationContext
from contracts.testing import InMemoryMappingService
from contracts.testing.checks import Snapshot
from contracts.testing.suite import DriverContractSuite
from drivers.magento2 import Magento2Driver
from drivers.magento2.fake_store import FakeMagento, FakeMagentoServer
from drivers.magento2.mappings import alias_type


class TestMagento2Contract(DriverContractSuite):
    large_payload_bytes = 262_144  # the 1 MiB default only adds wall time here

    @pytest.fixture
    def driver(self) -> Magento2Driver:
        return Magento2Driver()

    @pytest.fixture
    def driver_config(self, fake_server: FakeMagentoServer) -> Mapping[str, Any]:
        return driver_config(fake_server, allow_destructive_deletes=True)

    @pytest.fixture
    def mapping_service(
        self, integration_context: IntegrationContext, fake_store: FakeMagento
    ) -> InMemoryMappingService:
        # The sample payloads reference categories, a family and attributes by code: the
        # store already holds them, as a store does when products arrive.
        service = InMemoryMappingService(integration_uuid=integration_context.integration_uuid)
        seed_references(fake_store, service, integration_context.integration_uuid)
        return service

    @pytest.fixture
    def downstream_snapshot(self, fake_store: FakeMagento) -> Snapshot:
        return lambda: snapshot(fake_store)

    def test_the_references_of_the_sample_payloads_are_in_store_and_mappings(
        self,
        mapping_service: InMemoryMappingService,
        fake_store: FakeMagento,
        integration_context: IntegrationContext,
    ) -> None:
        # The suite's products resolve these through the mappings: each mapping must name
        # what the store really holds, or the suite would test a driver that only waits.
        uuid = integration_context.integration_uuid
        category = mapping_service.find(alias_type("category"), "men", uuid)
        family = mapping_service.find(alias_type("family"), "clothing", uuid)
        assert category is not None
        assert family is not None
        held = snapshot(fake_store)
        assert int(category.external_id) in {row[0] for row in held["categories"]}
        assert int(family.external_id) in fake_store.catalog.eav.sets
