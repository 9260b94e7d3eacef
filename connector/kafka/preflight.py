"""Check, before anything starts, that the configured Kafka cluster answers and accepts us."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

from confluent_kafka import KafkaError, KafkaException

from connector.kafka.clients import new_admin
from connector.kafka.errors import ErrorFamily, family_of
from contracts import ConfigurationError

__all__ = ["check_connection"]


def _refused(error: KafkaError) -> bool:
    return family_of(error) is ErrorFamily.CONFIGURATION


def check_connection(client_config: Mapping[str, str], timeout_s: float = 15.0) -> None:
    """Raise `ConfigurationError` if the cluster rejects our credentials (or TLS settings),
    `ConnectionError` if it does not answer within `timeout_s`.

    The message names the bootstrap servers and librdkafka's reason (e.g. "SASL
    authentication failed"); callers pass it through the redactor before printing it.
    """
    errors: list[KafkaError] = []
    auth_failed = threading.Event()

    def on_error(error: KafkaError) -> None:
        errors.append(error)
        if _refused(error):
            auth_failed.set()

    admin = new_admin(
        client_config, logger=logging.getLogger("iec.kafka.preflight"), on_error=on_error
    )
    servers = client_config.get("bootstrap.servers", "?")
    deadline = time.monotonic() + timeout_s
    # Short metadata requests with the error queue served in between: an authentication
    # failure is reported within a second instead of after the whole timeout.
    while True:
        try:
            admin.list_topics(timeout=min(1.0, max(0.1, deadline - time.monotonic())))
            break
        except KafkaException as exc:
            admin.poll(0.2)
            reason = next((e for e in errors if _refused(e)), None)
            if reason is not None:
                raise ConfigurationError(
                    f"Kafka at {servers} rejected the connection: {reason.str()} — check "
                    "kafka.security_protocol, kafka.sasl_mechanism, kafka.sasl_username and "
                    "kafka.sasl_password"
                ) from None
            if time.monotonic() >= deadline:
                detail = errors[-1].str() if errors else str(exc)
                # Not the configuration's fault as far as we can tell: exit 1, not 2.
                raise ConnectionError(
                    f"cannot reach the cluster: Kafka at {servers} did not answer within "
                    f"{timeout_s:g}s ({detail}) — "
                    "check kafka.bootstrap_servers and that the cluster is up"
                ) from None
    if auth_failed.is_set():
        raise ConfigurationError(
            f"Kafka at {servers} rejected the credentials — check kafka.sasl_username and "
            "kafka.sasl_password"
        )
