"""Every Prometheus metric the connector exports, in one place.

Names follow Prometheus conventions: prefix `iec_connector_`, base units (seconds, bytes),
`_total` for counters. Labels are bounded: integration uuid, entity type, operation, stage,
error class (exception class names, not messages), topic/partition for lag.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["METRICS", "REGISTRY", "ConnectorMetrics"]

REGISTRY = CollectorRegistry(auto_describe=True)

_BATCH_SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
# Acknowledgements (acks=all) take a millisecond or two on a healthy cluster.
_ACK_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ConnectorMetrics:
    """The metric families; one instance per registry (tests may build their own)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        p = "iec_connector"
        self.records_consumed = Counter(
            f"{p}_records_consumed",
            "Records fetched from Kafka.",
            ["integration", "topic"],
            registry=registry,
        )
        self.records_handled = Counter(
            f"{p}_records_handled",
            "Mutations handled by the driver.",
            ["integration", "entity_type", "operation"],
            registry=registry,
        )
        self.batches = Counter(
            f"{p}_batches",
            "Batches handed to the driver.",
            ["integration", "entity_type"],
            registry=registry,
        )
        self.batch_size = Histogram(
            f"{p}_batch_size_records",
            "Records per batch handed to the driver.",
            ["integration", "entity_type"],
            buckets=_BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.handle_duration = Histogram(
            f"{p}_handle_duration_seconds",
            "Time the driver took per handle_batch call.",
            ["integration", "entity_type"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            f"{p}_errors",
            "Failures by stage, kind and exception class.",
            ["integration", "stage", "kind", "error_class"],
            registry=registry,
        )
        self.retries = Counter(
            f"{p}_retries",
            "Retry attempts after transient failures.",
            ["integration", "entity_type"],
            registry=registry,
        )
        self.retry_paused_seconds = Counter(
            f"{p}_retry_paused_seconds",
            "Time spent waiting between retry attempts.",
            ["integration"],
            registry=registry,
        )
        self.dead_letters = Counter(
            f"{p}_dead_letters",
            "Records written to the dead-letter topic.",
            ["integration", "stage", "error_class", "entity_type"],
            registry=registry,
        )
        self.dead_letter_failures = Counter(
            f"{p}_dead_letter_write_failures",
            "Dead-letter writes that failed (then retried).",
            ["integration"],
            registry=registry,
        )
        self.dead_letter_write_seconds = Histogram(
            f"{p}_dead_letter_write_duration_seconds",
            "Time from producing dead letters to the broker's acknowledgement, per write call.",
            ["integration"],
            buckets=_ACK_BUCKETS,
            registry=registry,
        )
        self.dead_letter_write_batch_size = Histogram(
            f"{p}_dead_letter_write_batch_records",
            "Dead letters written together (one wait for their acknowledgements).",
            ["integration"],
            buckets=_BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.consumer_lag = Gauge(
            f"{p}_consumer_lag_records",
            "Records between the committed offset and the end.",
            ["integration", "topic", "partition"],
            registry=registry,
        )
        self.assigned_partitions = Gauge(
            f"{p}_assigned_partitions",
            "Partitions currently assigned to this process.",
            ["integration"],
            registry=registry,
        )
        self.rebalances = Counter(
            f"{p}_rebalances",
            "Partition assignment changes.",
            ["integration", "kind"],
            registry=registry,
        )
        self.commits = Counter(
            f"{p}_offset_commits",
            "Offset commits by result.",
            ["integration", "result"],
            registry=registry,
        )
        self.paused = Gauge(
            f"{p}_paused",
            "1 while the integration holds back fetching (partitions holding records are paused).",
            ["integration"],
            registry=registry,
        )
        self.mappings = Gauge(
            f"{p}_mappings",
            "Mappings held by the integration's mapping store.",
            ["integration"],
            registry=registry,
        )
        self.mapping_restore_seconds = Gauge(
            f"{p}_mapping_restore_duration_seconds",
            "How long the last mapping restore took.",
            ["integration"],
            registry=registry,
        )
        self.records_skipped = Counter(
            f"{p}_records_skipped",
            "Records fetched again after a rebalance or restart that the previous owner had "
            "finished already (named in the committed offset's metadata): not handled again.",
            ["integration"],
            registry=registry,
        )
        self.records_in_flight = Gauge(
            f"{p}_records_in_flight",
            "Records handed to the driver and not finished yet.",
            ["integration"],
            registry=registry,
        )
        self.records_buffered = Gauge(
            f"{p}_records_buffered",
            "Fetched records waiting for the driver (ready, behind their key, or parked for "
            "a retry); fetching pauses when this reaches its bound.",
            ["integration"],
            registry=registry,
        )
        self.keys_waiting = Gauge(
            f"{p}_keys_waiting",
            "Entity keys parked for a retry after a transient failure (other keys go on).",
            ["integration"],
            registry=registry,
        )
        self.key_wait = Histogram(
            f"{p}_key_wait_seconds",
            "Per batch handed to the driver: how long its longest-waiting key waited (behind its "
            "key's earlier work, a retry backoff, the linger, or busy work slots).",
            ["integration"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.overdue_calls = Counter(
            f"{p}_handle_overdue_calls",
            "Sync driver calls that ran past the handle timeout (waited for, never overlapped).",
            ["integration"],
            registry=registry,
        )
        self.mapping_write_batch_size = Histogram(
            f"{p}_mapping_write_batch_records",
            "Mapping writes produced together and acknowledged with one wait.",
            ["integration"],
            buckets=_BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.mapping_write_seconds = Histogram(
            f"{p}_mapping_write_duration_seconds",
            "Time from producing a batch of mapping writes to the broker's acknowledgement.",
            ["integration"],
            buckets=_ACK_BUCKETS,
            registry=registry,
        )
        self.mapping_write_failures = Counter(
            f"{p}_mapping_write_failures",
            "Mapping writes that failed (the caller got an error; the view is unchanged).",
            ["integration"],
            registry=registry,
        )
        self.integration_up = Gauge(
            f"{p}_integration_running",
            "1 while the integration's loop runs.",
            ["integration"],
            registry=registry,
        )


METRICS = ConnectorMetrics(REGISTRY)
