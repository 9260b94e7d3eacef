"""Kafka client errors sorted into families: the one table every Kafka user here asks.

librdkafka reports broker error codes and its own (negative, ``_``-prefixed) codes through
`KafkaError`. What a caller does with one depends only on its family:

* ``TRANSIENT`` — the cluster or the network is unwell (timeouts, leader changes, brokers
  down, not enough replicas, a topic not visible yet): the same request may succeed later.
  The default for every code the table does not list: retrying is the safe mistake, since
  the other families drop a record or stop an integration.
* ``PERMANENT`` — this record can never be written as it is (too large, invalid for the
  topic): retrying cannot help, the record itself must change.
* ``CONFIGURATION`` — credentials, ACLs, TLS or settings are wrong: an operator must fix
  the configuration; nothing succeeds until then.
* ``FATAL`` — the client instance is unusable (librdkafka's fatal errors, e.g. a fenced or
  out-of-sequence idempotent producer): drop it and build a new one; the request itself
  may then succeed, so for the caller it is transient.

`failures.classification` asks this table for a `KafkaException`; the mapping store, the
dead-letter producer, the preflight check and the CLI use it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from confluent_kafka import KafkaError, KafkaException

from contracts import ConfigurationError, IntegrationError, PermanentError, TransientError

__all__ = [
    "ErrorFamily",
    "SettingName",
    "as_integration_error",
    "cluster_failure",
    "connector_setting",
    "describe",
    "error_of",
    "family_of",
    "librdkafka_property",
    "refusal",
    "tls_refusal",
]


class ErrorFamily(StrEnum):
    """What a Kafka error means for the caller (see the module's docstring)."""

    TRANSIENT = "transient"
    PERMANENT = "permanent"
    CONFIGURATION = "configuration"
    FATAL = "fatal"


_CONFIGURATION = frozenset(
    {
        # authentication and TLS
        KafkaError._AUTHENTICATION,
        KafkaError._SSL,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.UNSUPPORTED_SASL_MECHANISM,
        KafkaError.ILLEGAL_SASL_STATE,
        # authorisation (ACLs)
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        KafkaError.DELEGATION_TOKEN_AUTHORIZATION_FAILED,
        # settings the broker or the client refuses
        KafkaError.POLICY_VIOLATION,
        KafkaError.INVALID_CONFIG,
        KafkaError.INVALID_REPLICATION_FACTOR,
        KafkaError.INVALID_REPLICA_ASSIGNMENT,
        KafkaError.INVALID_PARTITIONS,
        KafkaError.INVALID_REQUIRED_ACKS,
        KafkaError.INVALID_GROUP_ID,
        KafkaError.TOPIC_EXCEPTION,  # an invalid topic name
        KafkaError.UNSUPPORTED_VERSION,
        KafkaError.UNSUPPORTED_COMPRESSION_TYPE,
        KafkaError._UNSUPPORTED_FEATURE,
        KafkaError._INVALID_ARG,
        KafkaError._NOT_CONFIGURED,
    }
)
_PERMANENT = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,  # also librdkafka's local refusal of a large record
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_RECORD,  # e.g. a record without a key on a compacted topic
        KafkaError.INVALID_TIMESTAMP,
        KafkaError.UNSUPPORTED_FOR_MESSAGE_FORMAT,
        KafkaError._KEY_SERIALIZATION,
        KafkaError._VALUE_SERIALIZATION,
    }
)


def family_of(error: KafkaError) -> ErrorFamily:
    """The family of one client error: fatal first, then the table, else transient."""
    if error.fatal() or error.code() == KafkaError._FATAL:
        return ErrorFamily.FATAL
    code = error.code()
    if code in _CONFIGURATION:
        return ErrorFamily.CONFIGURATION
    if code in _PERMANENT:
        return ErrorFamily.PERMANENT
    return ErrorFamily.TRANSIENT


SettingName = Callable[[str], str]
"""How a refusal names what to check, given the librdkafka property (`ssl.ca.location`)."""


def connector_setting(prop: str) -> str:
    """The connector's setting for a librdkafka property: `ssl.ca.location` ->
    `kafka.ssl_ca_location` (the `kafka:` section of the configuration)."""
    return "kafka." + prop.replace(".", "_")


def librdkafka_property(prop: str) -> str:
    """The property itself, for clients configured with librdkafka properties (the SDK)."""
    return prop


# OpenSSL's words for "we do not trust the broker's certificate".
_UNTRUSTED_BROKER = (
    "certificate verify failed",
    "self-signed certificate",
    "unable to get local issuer",
)
# The broker's TLS alerts when it wants a client certificate it did not get or cannot trust.
_CLIENT_CERT_REFUSED = (
    "alert bad certificate",
    "alert certificate required",
    "alert unknown ca",
    "alert certificate unknown",
    "alert handshake failure",
)
_AUTHENTICATION = frozenset(
    {
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.UNSUPPORTED_SASL_MECHANISM,
        KafkaError.ILLEGAL_SASL_STATE,
    }
)


def tls_refusal(error_text: str, name: SettingName = connector_setting) -> str | None:
    """What to fix when a librdkafka error says a TLS handshake was refused, else None.

    `name` turns the librdkafka properties to check into what the reader configured.
    """
    text = error_text.lower()
    if any(words in text for words in _UNTRUSTED_BROKER):
        return (
            "the broker's TLS certificate is not signed by a CA the client trusts — check "
            f"{name('ssl.ca.location')} (the CA that signed the broker certificate) and that "
            f"{name('bootstrap.servers')} names a host in that certificate"
        )
    if any(words in text for words in _CLIENT_CERT_REFUSED):
        return (
            "the broker refused the TLS handshake: it requires a client certificate it "
            f"trusts — check {name('ssl.certificate.location')} and "
            f"{name('ssl.key.location')} (and {name('ssl.key.password')} for an encrypted key)"
        )
    return None


def refusal(error: KafkaError, name: SettingName = connector_setting) -> str | None:
    """What to fix when the cluster refuses the connection itself (a TLS handshake, the SASL
    credentials), else None. Retrying cannot help: an operator must change a setting."""
    tls = tls_refusal(error.str(), name)
    if tls is not None:
        return tls
    if error.code() in _AUTHENTICATION:
        return (
            f"the cluster refused the credentials — check {name('security.protocol')}, "
            f"{name('sasl.mechanism')}, {name('sasl.username')} and {name('sasl.password')}"
        )
    return None


def error_of(exc: BaseException) -> KafkaError | None:
    """The `KafkaError` a `KafkaException` carries (None for anything else)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def describe(error: KafkaError) -> str:
    """Name and text of a client error, e.g. ``"_MSG_TIMED_OUT: Local: Message timed out"``.

    librdkafka's texts name brokers and topics, never credentials.
    """
    return f"{error.name()}: {error.str()}"


def as_integration_error(error: KafkaError, message: str) -> IntegrationError:
    """The contract error for `error`'s family, with `message` (which should say what failed;
    the error's name and text are appended).

    Transient and fatal errors give `TransientError` (a fatal one is cured by a new client),
    permanent ones `PermanentError`, configuration ones `ConfigurationError`.
    """
    text = f"{message}: {describe(error)}"
    family = family_of(error)
    if family is ErrorFamily.CONFIGURATION:
        return ConfigurationError(text)
    if family is ErrorFamily.PERMANENT:
        return PermanentError(text)
    return TransientError(text)


def cluster_failure(exc: BaseException) -> str:
    """One line for an operator about a failed request to the cluster, with what to check.

    For commands that talk to Kafka directly (the CLI); pass it through the redactor.
    """
    error = error_of(exc)
    if error is None:
        detail = str(exc) or type(exc).__name__
        return f"cannot reach the cluster ({detail}): check kafka.bootstrap_servers"
    family = family_of(error)
    if family is ErrorFamily.CONFIGURATION:
        return (
            f"the cluster refused the request ({describe(error)}): check the credentials, "
            "ACLs and TLS settings of the kafka section"
        )
    if family is ErrorFamily.TRANSIENT:
        return (
            f"cannot reach the cluster ({describe(error)}): check kafka.bootstrap_servers "
            "and that the cluster is up, then try again"
        )
    return f"the cluster failed the request: {describe(error)}"
