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
from typing import Any

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
from connector.demo.targets import DemoOptions, DemoTarget, ExampleTarget
from connector.driver_registry import DriverRegistry
from connector.topics import TopicSettings
from contracts import EntityTypes, MutationData, Operation

__all__ = ["DEFAULT_PRODUCTS", "DEMO_DRIVER_CONFIG", "DemoPlan", "demo_registry", "plan_demo"]

DEMO_DRIVER_CONFIG: dict[str, str] = ExampleTarget(DemoOptions()).driver_config()
"""The example driver's configuration: it never calls the network, so a fake endpoint."""

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


def demo_registry(target: DemoTarget | None = None) -> DriverRegistry:
    """The demo's driver: the target's (default: the example driver), found without the
    package's entry points, so the demo works from a source checkout too."""
    target = target or ExampleTarget(DemoOptions())
    return DriverRegistry.from_classes({target.driver_type: target.driver_class})


def plan_demo(
    bootstrap_servers: str,
    *,
    products: int = DEFAULT_PRODUCTS,
    run_id: str | None = None,
    partitions: int = 6,
    metrics_port: int = 0,
    log_level: str = "WARNING",
    target: DemoTarget | None = None,
) -> DemoPlan:
    """The plan of one run: unique topics, one integration of the target's driver (default:
    the example driver; a target with a downstream must be started first), the catalogue."""
    target = target or ExampleTarget(DemoOptions())
    run = run_id or f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    topics = TopicSettings(
        mutation_prefix=f"{run}.mutations",
        mapping_prefix=f"{run}.mappings",
        dead_letter_prefix=f"{run}.dead-letters",
        retry_prefix=f"{run}.retry",
        group_prefix=f"{run}.connector",
        partitions=partitions,
    )
    defaults: dict[str, Any] = {
        "batch": BatchSettings(linger_ms=50),
        # The example driver does not fail; short backoffs keep a surprise short too.
        "retry": RetrySettings(max_attempts=3, initial_backoff_ms=100, max_backoff_ms=1000),
        "handle_timeout_ms": 30_000,
    }
    integration = IntegrationSettings(
        uuid=str(uuid.uuid4()),
        name=f"demo-{target.name}",
        driver=target.driver_type,
        config=target.driver_config(),
        entity_types=list(EntityTypes.standard()),
        **{**defaults, **target.integration_settings()},
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
