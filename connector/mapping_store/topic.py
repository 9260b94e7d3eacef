"""The mapping topic's declared settings, the policy check, and creating/checking it on Kafka.

Why these settings (one compacted topic per integration, one partition):

* ``cleanup.policy=compact`` — exactly that: ``compact,delete`` would expire old mappings after
  ``retention.ms`` and every replay would create those entities again downstream.
* ``delete.retention.ms`` 7 days — how long a tombstone survives compaction. A reader that
  saw a key's old value must read its tombstone before the cleaner drops it, or it keeps the
  deleted mapping; restores take seconds, but a tailing instance may be stalled (paused pod,
  network partition) for far longer than the 1-day default.
* ``min.compaction.lag.ms`` 1 hour — recent history of every key stays readable, to diagnose
  a duplicate create from the log itself; costs at most one hour of superseded records.
* ``max.compaction.lag.ms`` 7 days — superseded values (old ``external_data``) don't linger
  forever on a topic whose dirty ratio grows slowly.
* ``segment.ms`` 1 day, ``segment.bytes`` 64 MiB — only closed segments are compacted; the
  defaults (7 days / 1 GiB, i.e. ~10M mappings) would keep a whole catalogue uncompacted.
* ``min.cleanable.dirty.ratio`` 0.2 — the log holds at most ~1.25x the live mappings (default
  0.5: up to 2x), which bounds restore time; mapping topics are small, cleaning is cheap.
* ``unclean.leader.election.enable=false`` — an acknowledged mapping must never be lost.
* One partition — a total order of all mapping writes: restore order never depends on the
  partitioner (librdkafka's default differs from Java's), and adding partitions later can't
  split a key's history. Writes are one per external create, far below a partition's limit.

Replication factor and ``min.insync.replicas`` come from the broker's defaults unless given;
production clusters should have RF 3 and min ISR 2 (``acks=all`` waits for the ISR).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from confluent_kafka import KafkaError, KafkaException

# ConfigResource, NewTopic, ResourceType: public, but not re-exported explicitly by the stubs.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourceType,
)
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from connector.kafka.errors import as_integration_error, error_of
from contracts import ConfigurationError, TransientError

__all__ = [
    "MAPPING_TOPIC_CONFIG",
    "MAPPING_TOPIC_PARTITIONS",
    "ensure_mapping_topic",
    "policy_problem",
    "setting_warnings",
]

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS

MAPPING_TOPIC_PARTITIONS = 1
MAPPING_TOPIC_CONFIG: Mapping[str, str] = {
    "cleanup.policy": "compact",
    "delete.retention.ms": str(7 * _DAY_MS),
    "min.compaction.lag.ms": str(_HOUR_MS),
    "max.compaction.lag.ms": str(7 * _DAY_MS),
    "segment.ms": str(_DAY_MS),
    "segment.bytes": str(64 * 1024 * 1024),
    "min.cleanable.dirty.ratio": "0.2",
    "unclean.leader.election.enable": "false",
}
_MIN_DELETE_RETENTION_MS = _DAY_MS


def policy_problem(topic: str, cleanup_policy: str | None) -> str | None:
    """The message refusing a mapping topic whose policy isn't exactly ``compact``, else None."""
    policies = {p.strip() for p in (cleanup_policy or "").split(",") if p.strip()}
    if policies == {"compact"}:
        return None
    return (
        f"mapping topic {topic!r} has cleanup.policy={cleanup_policy or '(unset)'}, but a "
        "mapping topic must be compacted only ('delete' would expire mappings and cause "
        "duplicate creates on replay). Fix: kafka-configs.sh --bootstrap-server <servers> "
        f"--alter --entity-type topics --entity-name {topic} --add-config cleanup.policy=compact"
    )


def setting_warnings(topic: str, config: Mapping[str, str]) -> list[str]:
    """Advice for an existing compacted topic whose settings are risky (never fatal)."""
    warnings = []
    retention = config.get("delete.retention.ms")
    if retention is not None and int(retention) < _MIN_DELETE_RETENTION_MS:
        warnings.append(
            f"mapping topic {topic!r} keeps tombstones only {int(retention)} ms "
            f"(delete.retention.ms); a reader stalled longer than that may keep deleted "
            f"mappings. Recommended: {MAPPING_TOPIC_CONFIG['delete.retention.ms']}"
        )
    if config.get("unclean.leader.election.enable") == "true":
        warnings.append(
            f"mapping topic {topic!r} allows unclean leader election, which can lose "
            "acknowledged mappings (and cause duplicate creates)"
        )
    return warnings


def _describe(admin: AdminClient, topic: str, timeout_s: float) -> dict[str, str] | None:
    """The topic's configuration, or None if it does not exist."""
    resource = ConfigResource(ResourceType.TOPIC, topic)
    future = admin.describe_configs([resource], request_timeout=timeout_s)[resource]
    try:
        entries = future.result(timeout=timeout_s + 5)
    except KafkaException as exc:
        if exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return None
        raise _admin_error(topic, "describe", exc) from None
    return {name: entry.value for name, entry in entries.items()}


def _admin_error(topic: str, action: str, exc: KafkaException) -> Exception:
    message = f"cannot {action} mapping topic {topic!r}"
    error = error_of(exc)
    if error is None:
        return TransientError(f"{message}: {exc}")
    return as_integration_error(error, message)


def ensure_mapping_topic(
    admin: AdminClient,
    topic: str,
    *,
    create: bool,
    replication_factor: int | None,
    timeout_s: float,
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> bool:
    """Create the mapping topic if missing (when allowed) and check it; True if created.

    1. Describe the topic's configuration.
    2. If it is missing: refuse (``create=False``) or create it with `MAPPING_TOPIC_CONFIG`;
       another instance creating it at the same moment is fine.
    3. Refuse a cleanup policy other than ``compact``; log advice for risky settings.
    """
    try:
        # 1. Describe.
        config = _describe(admin, topic, timeout_s)
        created = False
        # 2. Create if missing.
        if config is None:
            if not create:
                raise ConfigurationError(
                    f"mapping topic {topic!r} does not exist (create it with "
                    "`iec-connector topics create`, or check the integration uuid and topic "
                    "prefix)"
                )
            new_topic = NewTopic(
                topic,
                num_partitions=MAPPING_TOPIC_PARTITIONS,
                replication_factor=-1 if replication_factor is None else replication_factor,
                config=dict(MAPPING_TOPIC_CONFIG),
            )
            future = admin.create_topics([new_topic], request_timeout=timeout_s)[topic]
            try:
                future.result(timeout=timeout_s + 5)
                created = True
                logger.info("created mapping topic", extra={"topic": topic})
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise _admin_error(topic, "create", exc) from None
            # A new topic reaches the broker's metadata a moment after CreateTopics returns.
            config = Retrying(
                stop=stop_after_delay(timeout_s),
                wait=wait_fixed(0.05),
                retry=retry_if_result(lambda described: described is None),
                retry_error_callback=lambda _state: None,
            )(_describe, admin, topic, timeout_s)
            if config is None:
                raise TransientError(f"mapping topic {topic!r} is not visible yet after creation")
    except TimeoutError:
        raise TransientError(f"no answer from Kafka about mapping topic {topic!r}") from None
    # 3. Check.
    problem = policy_problem(topic, config.get("cleanup.policy"))
    if problem is not None:
        raise ConfigurationError(problem)
    for warning in setting_warnings(topic, config):
        logger.warning(warning, extra={"topic": topic})
    return created
