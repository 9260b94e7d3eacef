"""Sort any exception into transient, permanent or fatal — the one decision retry and
dead-lettering depend on.

The table is the contract's (`contracts.classification`, which the driver contract suite
uses too, so a driver is judged by the rules the runtime applies); this module adds the
rules for the runtime's own infrastructure errors (`RUNTIME_RULES`: codec errors, Kafka
client errors by their family) and is what the runtime calls.
"""

from __future__ import annotations

from collections.abc import Mapping

from confluent_kafka import KafkaException

from connector.codec.errors import CodecError
from connector.kafka.errors import ErrorFamily, error_of, family_of
from contracts.classification import (
    DEFAULT_CLASSIFIER,
    Classifier,
    FailureKind,
    Rule,
    UnknownPolicy,
)

__all__ = ["RUNTIME_CLASSIFIER", "RUNTIME_RULES", "FailureKind", "UnknownPolicy", "classify"]

_KAFKA_KINDS = {
    ErrorFamily.TRANSIENT: FailureKind.TRANSIENT,
    ErrorFamily.PERMANENT: FailureKind.PERMANENT,
    ErrorFamily.CONFIGURATION: FailureKind.FATAL,
    ErrorFamily.FATAL: FailureKind.TRANSIENT,  # the client is replaced; it may then succeed
}


def _kafka(exc: BaseException) -> FailureKind | None:
    # The error families live with the Kafka layer (`connector.kafka.errors`): one table.
    error = error_of(exc)
    return None if error is None else _KAFKA_KINDS[family_of(error)]


RUNTIME_RULES: Mapping[type[BaseException] | str, Rule] = {
    CodecError: FailureKind.PERMANENT,
    KafkaException: _kafka,
}
"""Rules for errors of the runtime's own parts, on top of the contract's table."""

RUNTIME_CLASSIFIER: Classifier = DEFAULT_CLASSIFIER.with_rules(RUNTIME_RULES)


def classify(exc: BaseException, unknown: UnknownPolicy = "transient") -> FailureKind:
    """The kind of `exc` (see `contracts.classification` for the table and the cause chain)."""
    return RUNTIME_CLASSIFIER.classify(exc, unknown)
