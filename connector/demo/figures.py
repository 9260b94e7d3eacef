"""`IntegrationFigures`: one integration's counters, read from the connector's metrics.

The demo reports what the runtime itself counted (the same series `/metrics` serves), so
its summary doubles as a check of the metrics. Series are selected by the integration
label, which makes the figures of one run independent of earlier runs in the process.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from prometheus_client import Counter as PromCounter

from connector.metrics import METRICS, ConnectorMetrics

__all__ = ["IntegrationFigures", "read_figures"]


@dataclass(frozen=True, slots=True)
class IntegrationFigures:
    handled: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Mutations handled by the driver, per (entity type, operation)."""
    consumed: int = 0
    batches: int = 0
    errors: int = 0
    retries: int = 0
    dead_letters: int = 0

    @property
    def handled_total(self) -> int:
        return sum(self.handled.values())

    @property
    def done(self) -> int:
        """Records finished for good: handled, or acknowledged by the dead-letter topic."""
        return self.handled_total + self.dead_letters


def _samples(counter: PromCounter, integration: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in counter.collect()
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("integration") == integration
    ]


def _total(counter: PromCounter, integration: str) -> int:
    return int(sum(value for _labels, value in _samples(counter, integration)))


def read_figures(integration_uuid: str, metrics: ConnectorMetrics = METRICS) -> IntegrationFigures:
    """The current counters of `integration_uuid` (cheap: a few dozen series)."""
    handled: Counter[tuple[str, str]] = Counter()
    for labels, value in _samples(metrics.records_handled, integration_uuid):
        handled[(labels["entity_type"], labels["operation"])] += int(value)
    return IntegrationFigures(
        handled=handled,
        consumed=_total(metrics.records_consumed, integration_uuid),
        batches=_total(metrics.batches, integration_uuid),
        errors=_total(metrics.errors, integration_uuid),
        retries=_total(metrics.retries, integration_uuid),
        dead_letters=_total(metrics.dead_letters, integration_uuid),
    )
