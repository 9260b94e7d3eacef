"""The Kafka error families: one table, asked by classification, the stores and the CLI."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from connector.failures.classification import FailureKind, classify
from connector.kafka import ErrorFamily, as_integration_error, cluster_failure, family_of
from contracts import ConfigurationError, PermanentError, TransientError


@pytest.mark.parametrize(
    ("code", "family"),
    [
        (KafkaError._MSG_TIMED_OUT, ErrorFamily.TRANSIENT),
        (KafkaError._TRANSPORT, ErrorFamily.TRANSIENT),
        (KafkaError._ALL_BROKERS_DOWN, ErrorFamily.TRANSIENT),
        (KafkaError.NOT_ENOUGH_REPLICAS, ErrorFamily.TRANSIENT),
        (KafkaError.UNKNOWN_TOPIC_OR_PART, ErrorFamily.TRANSIENT),
        (KafkaError._QUEUE_FULL, ErrorFamily.TRANSIENT),
        (KafkaError.MSG_SIZE_TOO_LARGE, ErrorFamily.PERMANENT),
        (KafkaError.RECORD_LIST_TOO_LARGE, ErrorFamily.PERMANENT),
        (KafkaError.INVALID_RECORD, ErrorFamily.PERMANENT),
        (KafkaError.SASL_AUTHENTICATION_FAILED, ErrorFamily.CONFIGURATION),
        (KafkaError._AUTHENTICATION, ErrorFamily.CONFIGURATION),
        (KafkaError._SSL, ErrorFamily.CONFIGURATION),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, ErrorFamily.CONFIGURATION),
        (KafkaError.GROUP_AUTHORIZATION_FAILED, ErrorFamily.CONFIGURATION),
        (KafkaError.POLICY_VIOLATION, ErrorFamily.CONFIGURATION),
        (KafkaError.INVALID_REPLICATION_FACTOR, ErrorFamily.CONFIGURATION),
        (KafkaError._FATAL, ErrorFamily.FATAL),
    ],
)
def test_codes_fall_into_their_family(code: int, family: ErrorFamily) -> None:
    assert family_of(KafkaError(code)) is family


def test_any_error_the_client_calls_fatal_is_fatal_whatever_its_code() -> None:
    error = KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, "fenced", fatal=True)
    assert family_of(error) is ErrorFamily.FATAL


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (KafkaError._MSG_TIMED_OUT, TransientError),
        (KafkaError._FATAL, TransientError),  # a new client cures it
        (KafkaError.MSG_SIZE_TOO_LARGE, PermanentError),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, ConfigurationError),
    ],
)
def test_contract_errors_follow_the_family_and_say_what_failed(
    code: int, expected: type[Exception]
) -> None:
    error = KafkaError(code, "broker said no")
    raised = as_integration_error(error, "mapping write to 'm' failed")
    assert type(raised) is expected
    assert str(raised) == f"mapping write to 'm' failed: {error.name()}: broker said no"


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (KafkaError._MSG_TIMED_OUT, FailureKind.TRANSIENT),
        (KafkaError.MSG_SIZE_TOO_LARGE, FailureKind.PERMANENT),
        (KafkaError.SASL_AUTHENTICATION_FAILED, FailureKind.FATAL),
        (KafkaError._FATAL, FailureKind.TRANSIENT),
    ],
)
def test_classification_asks_the_table_for_kafka_exceptions(code: int, kind: FailureKind) -> None:
    exc = KafkaException(KafkaError(code))
    assert classify(exc, unknown="permanent") is kind
    wrapped = RuntimeError("driver wrapped it")
    wrapped.__cause__ = exc
    assert classify(wrapped, unknown="permanent") is kind


def test_cli_lines_say_what_to_check_per_family() -> None:
    refused = cluster_failure(KafkaException(KafkaError(KafkaError.SASL_AUTHENTICATION_FAILED)))
    assert "refused" in refused
    assert "credentials" in refused
    down = cluster_failure(KafkaException(KafkaError(KafkaError._TRANSPORT)))
    assert "cannot reach the cluster" in down
    assert "_TRANSPORT" in down
    assert "cannot reach the cluster" in cluster_failure(TimeoutError("no answer"))
