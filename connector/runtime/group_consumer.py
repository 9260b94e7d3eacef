"""`GroupConsumer`: the integration's confluent-kafka consumer, used from one thread only.

Every call on the client runs on a one-thread executor (the *Kafka thread*), so the client is
never used from two threads, and its rebalance, commit, statistics and error callbacks run
there too (librdkafka serves them inside `consume`).

Commits. Auto-commit is off: only positions the `CommitTracker` reports (records handled or
dead-lettered, and everything before them) are ever committed, in three ways:

1. *promptly*: each `step` (and `commit_due`, which the runner calls while it holds off
   fetching) commits, asynchronously, what finished since the last commit, at most once
   per `commit_interval_s`, so a SIGKILL redelivers only what finished in the last interval
   (and a commit's round trip);
2. *on revoke*: synchronously, for the partitions that leave, before they leave;
3. *at shutdown*: synchronously, everything.

Each commit carries, as its metadata, the offsets above the committed position that are
finished already (`connector.runtime.offset_map`); a new owner reads them when it is
assigned the partition and skips those records. A commit that fails is not lost: its
partitions are committed again by the next step.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from connector.kafka.clients import ClientErrorLog, new_consumer
from connector.kafka.errors import ErrorFamily, describe, family_of
from connector.kafka.reachability import CLUSTER, brokers_up
from connector.metrics import METRICS, ConnectorMetrics
from connector.runtime import offset_map
from connector.runtime.commit_tracker import CommitPoint, CommitTracker, TopicPartitionKey
from connector.runtime.lag import lag_from_stats
from contracts import ConfigurationError

__all__ = ["CONSUME_BATCH", "ConsumerHooks", "GroupConsumer"]

CONSUME_BATCH = 1000
_RESET_OFFSETS = {
    "earliest": OFFSET_BEGINNING,
    "smallest": OFFSET_BEGINNING,
    "beginning": OFFSET_BEGINNING,
    "latest": OFFSET_END,
    "largest": OFFSET_END,
    "end": OFFSET_END,
}
"""Where a partition without a committed offset starts, per `auto.offset.reset` (the runtime's
default is ``earliest``; another policy leaves the assignment to librdkafka)."""
_CONSUME_TIMEOUT_S = 0.05
"""A consume returns at once with a full batch, else after this: the latency a trickle sees."""


@dataclass(frozen=True, slots=True)
class ConsumerHooks:
    """What the runner does on rebalances, called in the Kafka thread."""

    assigned: Callable[[list[TopicPartitionKey]], None]
    """After the tracker took the partitions, before they are fetched."""
    revoking: Callable[[list[TopicPartitionKey]], None]
    """Before the partitions leave (blocks: the runner quiesces their in-flight work)."""
    lost: Callable[[list[TopicPartitionKey]], None]
    failed: Callable[[BaseException], None]
    """A fatal client error: the integration must stop."""


class GroupConsumer:
    """Subscribes, fetches, pauses and commits for one integration; see the module docstring."""

    def __init__(
        self,
        *,
        name: str,
        label: str,
        group_id: str,
        topics: tuple[str, ...],
        client_config: dict[str, Any],
        tracker: CommitTracker,
        hooks: ConsumerHooks,
        commit_interval_s: float,
        metrics: ConnectorMetrics = METRICS,
        logger: logging.Logger | None = None,
    ) -> None:
        self._name = name
        self._label = label
        self._group_id = group_id
        self._topics = topics
        self._client_config = client_config
        self._tracker = tracker
        self._hooks = hooks
        self._commit_interval_s = commit_interval_s
        self._metrics = metrics
        self.log = logger or logging.getLogger(f"iec.runtime.{name}")
        self._executor = concurrent.futures.ThreadPoolExecutor(1, f"kafka-{name}")
        self._consumer: Consumer | None = None
        self._errors = ClientErrorLog(self.log)
        self._last_commit = 0.0

    # -- on the event loop ------------------------------------------------------------------
    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(*args)` in the Kafka thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    @property
    def open(self) -> bool:
        return self._consumer is not None

    # -- in the Kafka thread ------------------------------------------------------------------
    def create(self) -> None:
        logger = logging.getLogger(f"iec.kafka.{self._name}")
        self._errors = ClientErrorLog(logger)
        consumer = new_consumer(
            self._client_config,
            group_id=self._group_id,
            logger=logger,
            on_error=self._on_client_error,
            defaults={
                "auto.offset.reset": "earliest",
                "statistics.interval.ms": 15000,
                # A fetch of partitions that have nothing new waits this long on the broker:
                # after an assignment, the first fetch often holds only those (the others
                # are still resolving their offsets), so 500 ms (the default) delayed the
                # first records by that much.
                "fetch.wait.max.ms": 100,
            },
            settings={
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "partition.assignment.strategy": "cooperative-sticky",
                "stats_cb": self._on_stats,
                "on_commit": self._on_commit,
            },
        )
        consumer.subscribe(
            list(self._topics),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self._consumer = consumer

    def step(
        self, pause: Collection[TopicPartitionKey] = (), resume: Collection[TopicPartitionKey] = ()
    ) -> list[Message]:
        """One turn: commit what finished (if due), pause and resume partitions (those still
        assigned: a revoke may have taken some since flow control looked), fetch."""
        consumer = self._consumer
        assert consumer is not None
        self._commit_promptly(consumer)
        if pause or resume:
            owned = set(self._tracker.assigned())
            if stop := [TopicPartition(t, p) for t, p in pause if (t, p) in owned]:
                consumer.pause(stop)
            if go := [TopicPartition(t, p) for t, p in resume if (t, p) in owned]:
                consumer.resume(go)
        return consumer.consume(CONSUME_BATCH, _CONSUME_TIMEOUT_S)

    def commit_due(self) -> None:
        """Commit what finished if the interval has passed (no fetch)."""
        consumer = self._consumer
        if consumer is not None:
            self._commit_promptly(consumer)

    def commit_sync(self) -> None:
        """Commit everything finished, waiting for the broker (shutdown)."""
        consumer = self._consumer
        if consumer is None:
            return
        points = self._tracker.positions()
        if points:
            self._commit(consumer, points, asynchronous=False)

    def close(self) -> None:
        """Leave the group; the executor ends after this call."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()
        self._executor.shutdown(wait=False)

    def _commit_promptly(self, consumer: Consumer) -> None:
        now = time.monotonic()
        if now - self._last_commit < self._commit_interval_s:
            return
        points = self._tracker.committable()
        if points:
            self._last_commit = now
            self._commit(consumer, points, asynchronous=True)

    def _commit(
        self,
        consumer: Consumer,
        points: dict[TopicPartitionKey, CommitPoint],
        *,
        asynchronous: bool,
    ) -> None:
        positions = [
            TopicPartition(t, p, point.offset, metadata=offset_map.encode(point.offset, point.done))
            for (t, p), point in points.items()
        ]
        # Recorded before the answer: the next step then only commits newer points. A
        # failure forgets them again (`_on_commit`), so they are committed once more.
        # Several asynchronous commits may be in flight: the broker applies them in order.
        self._tracker.mark_committed(points)
        try:
            if asynchronous:
                consumer.commit(offsets=positions, asynchronous=True)
            else:
                consumer.commit(offsets=positions, asynchronous=False)
                self._metrics.commits.labels(self._label, "ok").inc()
        except KafkaException as exc:
            self._tracker.forget_committed(points)
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError._NO_OFFSET:
                return
            self._metrics.commits.labels(self._label, "failed").inc()
            self.log.warning("offset commit failed: %s", exc)

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is None:
            self._metrics.commits.labels(self._label, "ok").inc()
            CLUSTER.reachable()  # a sign of life ends an outage (ops: one story per outage)
            return
        if error.code() == KafkaError._NO_OFFSET:
            return
        self._metrics.commits.labels(self._label, "failed").inc()
        self.log.warning("offset commit failed: %s", error)
        # The next step commits these partitions' current points again.
        self._tracker.forget_partitions([(tp.topic, tp.partition) for tp in partitions])

    # -- rebalance callbacks (inside consume) ---------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Assign protocol, before the partitions are fetched.

        1. Read their committed offsets (with the offset map of finished records above them).
        2. Track them, skipping what the previous owner finished; the runner's hook runs
           (the mapping store's read barrier).
        3. Assign them at the committed offsets ourselves: librdkafka would otherwise ask the
           coordinator for the same offsets again before the first fetch.
        """
        keys = [(tp.topic, tp.partition) for tp in partitions]
        CLUSTER.reachable()
        # 1. committed offsets
        committed = self._committed(consumer, partitions)
        # 2. track
        self._tracker.assign(keys, self._done_by_previous_owner(committed))
        self._hooks.assigned(keys)
        # 3. assign at the committed offsets (a partition without one: the reset policy)
        policy = str(self._client_config.get("auto.offset.reset", "earliest"))
        reset = _RESET_OFFSETS.get(policy)
        if committed and reset is not None:
            consumer.incremental_assign(
                [
                    TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else reset)
                    for tp in committed
                ]
            )
        self._metrics.rebalances.labels(self._label, "assign").inc()
        self._metrics.assigned_partitions.labels(self._label).set(len(self._tracker.assigned()))
        self.log.info("assigned %s", _fmt(keys))

    def _committed(
        self, consumer: Consumer, partitions: list[TopicPartition]
    ) -> list[TopicPartition]:
        """The partitions' committed offsets and metadata ([] if they cannot be read)."""
        if not partitions:
            return []
        try:
            committed: list[TopicPartition] = consumer.committed(partitions, timeout=10)
        except KafkaException as exc:
            self.log.warning("committed offsets unreadable (%s): finished records come again", exc)
            return []
        return committed

    def _done_by_previous_owner(
        self, committed: list[TopicPartition]
    ) -> dict[TopicPartitionKey, set[int]]:
        """The finished offsets above each partition's committed position (its metadata)."""
        done: dict[TopicPartitionKey, set[int]] = {}
        for tp in committed:
            if tp.offset >= 0 and tp.metadata:
                offsets = offset_map.decode(tp.offset, tp.metadata)
                if offsets:
                    done[(tp.topic, tp.partition)] = offsets
        if done:
            self.log.info(
                "%d record(s) above the committed offsets were finished by the previous owner: "
                "they are skipped",
                sum(map(len, done.values())),
            )
        return done

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Revoke protocol, before the partitions leave us.

        1. The runner quiesces their work (drops held records, lets in-flight works finish
           within the revoke grace, abandons the rest).
        2. Commit synchronously what is done for them.
        3. Forget them: a work that finishes later can no longer commit for them.
        """
        keys = [(tp.topic, tp.partition) for tp in partitions]
        # 1. quiesce
        self._hooks.revoking(keys)
        # 2. commit what is done (again if an asynchronous commit of it is still in flight)
        offsets = self._tracker.positions(keys)
        if offsets:
            self._commit(consumer, offsets, asynchronous=False)
        # 3. forget
        self._tracker.revoke(keys)
        self._forget_lag(keys)
        self._metrics.rebalances.labels(self._label, "revoke").inc()
        self._metrics.assigned_partitions.labels(self._label).set(len(self._tracker.assigned()))
        self.log.info("revoked %s", _fmt(keys))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost, not revoked: another member may own them already, so commit nothing.
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self._tracker.revoke(keys)
        self._forget_lag(keys)
        self._hooks.lost(keys)
        self._metrics.rebalances.labels(self._label, "lost").inc()
        self._metrics.assigned_partitions.labels(self._label).set(len(self._tracker.assigned()))
        self.log.warning("lost %s", _fmt(keys))

    def _on_client_error(self, error: KafkaError) -> None:
        self._errors(error)  # logged once per code and interval: an outage does not flood
        if error.fatal():
            self._hooks.failed(KafkaException(error))
        elif family_of(error) is ErrorFamily.CONFIGURATION:
            # Refused credentials or ACLs (no Read on the group: GROUP_AUTHORIZATION_FAILED)
            # never pass by themselves: stop the integration, saying what to grant.
            self._hooks.failed(
                ConfigurationError(
                    f"the cluster refused the consumer of group {self._group_id} "
                    f"({describe(error)}): check its credentials and ACLs (Read on the group "
                    "and on the topics it consumes)"
                )
            )

    def _on_stats(self, stats_json: str) -> None:
        if CLUSTER.down and brokers_up(stats_json):
            CLUSTER.reachable()
        owned = set(self._tracker.assigned())
        for (topic, partition), lag in lag_from_stats(stats_json).items():
            if (topic, partition) in owned:
                self._metrics.consumer_lag.labels(self._label, topic, str(partition)).set(lag)

    def _forget_lag(self, keys: list[TopicPartitionKey]) -> None:
        """Partitions that left: their lag is another member's to report (a frozen series
        here would count twice in the dashboard's sum and the lag alert)."""
        for topic, partition in keys:
            with contextlib.suppress(KeyError):
                self._metrics.consumer_lag.remove(self._label, topic, str(partition))


def _fmt(keys: list[TopicPartitionKey]) -> str:
    return ", ".join(f"{t}[{p}]" for t, p in keys) or "nothing"
