"""Check, before anything starts, that the configured Kafka cluster answers and accepts us.

1. The TLS files the settings name must exist and be readable (librdkafka would refuse to
   build a client with a bare "BIO lib" error; one that is not PEM it refuses itself).
2. Short metadata requests, with the client's error queue served in between, until one is
   answered or the timeout passes. An error that retrying cannot fix (credentials, ACLs, a
   TLS handshake the broker or we refuse) ends the check at once.
3. The `ConfigurationError` names the setting to look at: kafka.ssl_ca_location when the
   broker's certificate is not trusted, kafka.ssl_certificate_location / ssl_key_location
   when the broker wants (another) client certificate, the SASL settings when it refuses
   the credentials. librdkafka's own log lines are silenced here: the error is the report.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping

from confluent_kafka import KafkaError, KafkaException

from connector.kafka.clients import new_admin
from connector.kafka.errors import ErrorFamily, family_of
from contracts import ConfigurationError

__all__ = ["check_connection", "tls_refusal"]

# librdkafka property -> the connector's setting, for the TLS files.
_TLS_FILES = {
    "ssl.ca.location": "kafka.ssl_ca_location",
    "ssl.certificate.location": "kafka.ssl_certificate_location",
    "ssl.key.location": "kafka.ssl_key_location",
}
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


def tls_refusal(error_text: str) -> str | None:
    """What to fix when a librdkafka error says a TLS handshake was refused, else None."""
    text = error_text.lower()
    if any(words in text for words in _UNTRUSTED_BROKER):
        return (
            "the broker's TLS certificate is not signed by a CA the client trusts — check "
            "kafka.ssl_ca_location (the CA that signed the broker certificate) and that "
            "bootstrap_servers names a host in that certificate"
        )
    if any(words in text for words in _CLIENT_CERT_REFUSED):
        return (
            "the broker refused the TLS handshake: it requires a client certificate it "
            "trusts — check kafka.ssl_certificate_location and kafka.ssl_key_location "
            "(and kafka.ssl_key_password for an encrypted key)"
        )
    return None


def _refused(error: KafkaError) -> bool:
    return family_of(error) is ErrorFamily.CONFIGURATION or tls_refusal(error.str()) is not None


def _check_tls_files(client_config: Mapping[str, str]) -> None:
    for prop, setting in _TLS_FILES.items():
        path = client_config.get(prop)
        if not path or path.lstrip().startswith("-----BEGIN"):  # inline PEM is not a path
            continue
        if not os.path.isfile(path):
            raise ConfigurationError(
                f"{setting}: no file at {path} — check {setting} (the path of a PEM file)"
            )
        if not os.access(path, os.R_OK):
            raise ConfigurationError(
                f"{setting}: {path} is not readable by this process — check {setting}"
            )


def _reason(error: KafkaError) -> str:
    tls = tls_refusal(error.str())
    if tls is not None:
        return tls
    return (
        "check kafka.security_protocol, kafka.sasl_mechanism, kafka.sasl_username and "
        "kafka.sasl_password"
    )


def check_connection(client_config: Mapping[str, str], timeout_s: float = 15.0) -> None:
    """Raise `ConfigurationError` if the cluster rejects us or our TLS files (module
    docstring), `ConnectionError` if it does not answer within `timeout_s`. The message
    names the bootstrap servers, librdkafka's reason and the setting to check; callers pass
    it through the redactor before printing it."""
    # 1. The files.
    _check_tls_files(client_config)
    errors: list[KafkaError] = []
    refused = threading.Event()

    def on_error(error: KafkaError) -> None:
        errors.append(error)
        if _refused(error):
            refused.set()

    servers = client_config.get("bootstrap.servers", "?")
    # A file librdkafka refuses (not PEM) raises KafkaException(_INVALID_ARG) here: the CLI
    # names the setting (connector.cli.failures).
    admin = new_admin(
        client_config,
        logger=logging.getLogger("iec.kafka.preflight"),
        on_error=on_error,
        settings={"log_level": "2"},  # step 3: the raised error reports; no log flood
    )
    deadline = time.monotonic() + timeout_s
    # 2. Metadata until answered, refused or out of time.
    while True:
        try:
            admin.list_topics(timeout=min(1.0, max(0.1, deadline - time.monotonic())))
            break
        except KafkaException as exc:
            admin.poll(0.2)
            reason = next((e for e in errors if _refused(e)), None)
            # 3. Name the setting.
            if reason is not None:
                raise ConfigurationError(
                    f"Kafka at {servers} rejected the connection: {reason.str()} — "
                    f"{_reason(reason)}"
                ) from None
            if time.monotonic() >= deadline:
                detail = errors[-1].str() if errors else str(exc)
                # Not the configuration's fault as far as we can tell: exit 1, not 2.
                raise ConnectionError(
                    f"cannot reach the cluster: Kafka at {servers} did not answer within "
                    f"{timeout_s:g}s ({detail}) — "
                    "check kafka.bootstrap_servers and that the cluster is up"
                ) from None
    if refused.is_set():
        reason = next(e for e in errors if _refused(e))
        raise ConfigurationError(f"Kafka at {servers} rejected us: {_reason(reason)}")
