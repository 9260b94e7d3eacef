"""Check, before anything starts, that the configured Kafka cluster answers and accepts us.

1. The TLS files the settings name must exist and be readable (librdkafka would refuse to
   build a client with a bare "BIO lib" error; one that is not PEM it refuses itself).
2. Short metadata requests, with the client's error queue served in between, until one is
   answered or the timeout passes. An error that retrying cannot fix (credentials, ACLs, a
   TLS handshake the broker or we refuse) ends the check at once.
3. The `ConfigurationError` names the setting to look at: kafka.ssl_ca_location when the
   broker's certificate is not trusted, kafka.ssl_certificate_location / ssl_key_location
   when the broker wants (another) client certificate, the SASL settings when it refuses
   the credentials (the librdkafka properties instead, for the publisher SDK, whose users
   configure those). librdkafka's own log lines are silenced here: the error is the report.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from connector.kafka.clients import new_admin
from connector.kafka.errors import (
    ErrorFamily,
    SettingName,
    connector_setting,
    family_of,
    refusal,
    tls_refusal,
)
from contracts import ConfigurationError

__all__ = ["check_connection", "tls_refusal"]

_TLS_FILES = ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location")


def _refused(error: KafkaError) -> bool:
    return family_of(error) is ErrorFamily.CONFIGURATION or tls_refusal(error.str()) is not None


def _check_tls_files(client_config: Mapping[str, Any], name: SettingName) -> None:
    for prop in _TLS_FILES:
        setting = name(prop)
        path = client_config.get(prop)
        if (
            not isinstance(path, str) or not path or path.lstrip().startswith("-----BEGIN")
        ):  # inline PEM is not a path
            continue
        if not os.path.isfile(path):
            raise ConfigurationError(
                f"{setting}: no file at {path} — check {setting} (the path of a PEM file)"
            )
        if not os.access(path, os.R_OK):
            raise ConfigurationError(
                f"{setting}: {path} is not readable by this process — check {setting}"
            )


def _reason(error: KafkaError, name: SettingName) -> str:
    return refusal(error, name) or (
        f"check {name('security.protocol')}, {name('sasl.mechanism')}, "
        f"{name('sasl.username')} and {name('sasl.password')}"
    )


def check_connection(
    client_config: Mapping[str, Any],
    timeout_s: float = 15.0,
    *,
    name: SettingName = connector_setting,
) -> None:
    """Raise `ConfigurationError` if the cluster rejects us or our TLS files (module
    docstring), `ConnectionError` if it does not answer within `timeout_s`. The message
    names the bootstrap servers, librdkafka's reason and the setting to check (`name`:
    the connector's `kafka.*` settings by default; `librdkafka_property` for clients
    configured with librdkafka properties); callers pass it through the redactor before
    printing it."""
    # 1. The files.
    _check_tls_files(client_config, name)
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
                    f"{_reason(reason, name)}"
                ) from None
            if time.monotonic() >= deadline:
                detail = errors[-1].str() if errors else str(exc)
                # Not the configuration's fault as far as we can tell: exit 1, not 2.
                raise ConnectionError(
                    f"cannot reach the cluster: Kafka at {servers} did not answer within "
                    f"{timeout_s:g}s ({detail}) — "
                    f"check {name('bootstrap.servers')} and that the cluster is up"
                ) from None
    if refused.is_set():
        reason = next(e for e in errors if _refused(e))
        raise ConfigurationError(f"Kafka at {servers} rejected us: {_reason(reason, name)}")
