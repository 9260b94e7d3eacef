"""`DemoPlan`: everything one demo run uses, decided before any I/O.

A run gets its own topic and group prefix (``demo-<UTC time>-<4 hex>``) and its own
integration uuid, so a second run never reads the first one's mutations, offsets or mappings
and its figures start from zero (metrics are labelled by integration uuid). The run's topics
are deleted at its end unless the caller keeps them.
"""

from __future__ import annotations

import secrets
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from connector.config import (
    BatchSettings,
    ConnectorSettings,
    IntegrationSettings,
    KafkaSettings,
    MetricsSettings,
    RetrySettings,
    RuntimeSettings,
)
from connector.demo.catalogue import CatalogueShape, sample_catalogue
from connector.driver_registry import DriverRegistry
from connector.topics import TopicSettings
from contracts import EntityTypes, MutationData, Operation
from drivers.example import ExampleDriver

__all__ = ["DEFAULT_PRODUCTS", "DEMO_DRIVER_CONFIG", "DemoPlan", "demo_registry", "plan_demo"]

DEMO_DRIVER_CONFIG: dict[str, str] = {
    "base_url": "https://example.invalid/api",
    "api_key": "demo-key-not-a-secret",
}
"""The example driver's configuration: it never calls the network, so a fake endpoint."""

_INTEGRATION_NAME = "demo-example"
DEFAULT_PRODUCTS = CatalogueShape().products


@dataclass(frozen=True, slots=True)
class DemoPlan:
    """The run's identity, settings and mutations, and the figures a correct run must reach."""

    run_id: str
    settings: ConnectorSettings
    mutations: tuple[MutationData, ...]

    @property
    def topics(self) -> TopicSettings:
        return self.settings.topics

    @property
    def integration(self) -> IntegrationSettings:
        return self.settings.integrations[0]

    @property
    def entity_types(self) -> list[str]:
        return list(self.integration.entity_types or ())

    @property
    def expected(self) -> Counter[tuple[str, str]]:
        """Mutations per (entity type, operation)."""
        return Counter((m.entity_type, m.operation.value) for m in self.mutations)

    @property
    def live_entities(self) -> int:
        """Entities whose last mutation is not a deletion: the mappings a correct run keeps."""
        last: dict[tuple[str, str], Operation] = {}
        for m in self.mutations:
            last[(m.entity_type, m.entity_uuid)] = m.operation
        return sum(1 for op in last.values() if op is not Operation.DELETED)


def demo_registry() -> DriverRegistry:
    """The demo's drivers: the example driver only (works without the package installed)."""
    return DriverRegistry.from_classes({"example": ExampleDriver})


def plan_demo(
    bootstrap_servers: str,
    *,
    products: int = DEFAULT_PRODUCTS,
    run_id: str | None = None,
    partitions: int = 6,
    metrics_port: int = 0,
    log_level: str = "WARNING",
) -> DemoPlan:
    """The plan of one run: unique topics, one example-driver integration, the catalogue."""
    run = run_id or f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    topics = TopicSettings(
        mutation_prefix=f"{run}.mutations",
        mapping_prefix=f"{run}.mappings",
        dead_letter_prefix=f"{run}.dead-letters",
        retry_prefix=f"{run}.retry",
        group_prefix=f"{run}.connector",
        partitions=partitions,
    )
    integration = IntegrationSettings(
        uuid=str(uuid.uuid4()),
        name=_INTEGRATION_NAME,
        driver="example",
        config=dict(DEMO_DRIVER_CONFIG),
        entity_types=list(EntityTypes.standard()),
        batch=BatchSettings(linger_ms=50),
        # The example driver does not fail; short backoffs keep a surprise short too.
        retry=RetrySettings(max_attempts=3, initial_backoff_ms=100, max_backoff_ms=1000),
        handle_timeout_ms=30_000,
    )
    settings = ConnectorSettings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap_servers, client_id="iec-connector-demo"),
        topics=topics,
        metrics=MetricsSettings(host="127.0.0.1", port=metrics_port),
        runtime=RuntimeSettings(
            shutdown_grace_ms=10_000, environment="demo", log_level=log_level.upper()
        ),
        integrations=[integration],
    )
    mutations = tuple(sample_catalogue(CatalogueShape(products=products)))
    return DemoPlan(run_id=run, settings=settings, mutations=mutations)
