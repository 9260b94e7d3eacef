"""A real single-node Apache Kafka 4.x broker (KRaft) for development and tests, without Docker.

The broker is assembled from Maven Central jars into a cache outside the repository and
runs as a detached JVM on 127.0.0.1: PLAINTEXT on 9092, SASL_PLAINTEXT with SCRAM-SHA-256/512
on 9094 (super user `connector`, password from IEC_KAFKA_SCRAM_PASSWORD, default
`connector-secret`; unprivileged `runtime`, IEC_KAFKA_RUNTIME_PASSWORD, default
`runtime-secret`), SSL on 9095 (client certificate optional) and SSL on 9096 (client
certificate required) with a test CA made at start, and StandardAuthorizer (ACLs) where only
`runtime` is not a super user. On request (`up --registry`, `ensure_registry()`) an Apicurio
schema registry with the Confluent-compatible API at http://127.0.0.1:8081/apis/ccompat/v7.
CLI: `python -m connector.local_kafka up|down|status|logs`.
Standard library only (plus the `openssl` CLI for the certificates): usable before the
project's dependencies are installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from .certificates import CLIENT_COMMON_NAME, CertificateError, TlsFiles, make_ca
from .distribution import KAFKA_VERSION
from .launcher import (
    BrokerStatus,
    LocalKafkaError,
    ensure_running,
    is_running,
    log_path,
    running_broker,
    state_dir,
    stop,
)
from .probe import broker_answers
from .registry import (
    APICURIO_VERSION,
    DEFAULT_REGISTRY_PORT,
    RegistryStatus,
    ensure_registry,
    registry_answers,
    running_registry,
    stop_registry,
)
from .settings import (
    DEFAULT_MTLS_PORT,
    DEFAULT_PORT,
    DEFAULT_SASL_PORT,
    DEFAULT_SSL_PORT,
    SCRAM_MECHANISMS,
    ScramUser,
    default_scram_users,
    super_users,
)

__all__ = [
    "APICURIO_VERSION",
    "CLIENT_COMMON_NAME",
    "DEFAULT_MTLS_PORT",
    "DEFAULT_PORT",
    "DEFAULT_REGISTRY_PORT",
    "DEFAULT_SASL_PORT",
    "DEFAULT_SSL_PORT",
    "KAFKA_VERSION",
    "SCRAM_MECHANISMS",
    "BrokerStatus",
    "CertificateError",
    "LocalKafkaError",
    "RegistryStatus",
    "SaslEndpoint",
    "ScramUser",
    "TlsEndpoint",
    "TlsFiles",
    "broker_answers",
    "ensure_registry",
    "ensure_running",
    "is_running",
    "log_path",
    "make_ca",
    "registry_answers",
    "running_broker",
    "running_registry",
    "runtime_sasl_endpoint",
    "runtime_scram_user",
    "sasl_bootstrap",
    "sasl_endpoint",
    "scram_user",
    "state_dir",
    "stop",
    "stop_registry",
    "super_users",
    "tls_endpoint",
]


class SaslEndpoint(NamedTuple):
    """Where and how a client reaches a SASL/SCRAM listener."""

    bootstrap: str
    username: str
    password: str
    mechanism: str = "SCRAM-SHA-256"

    def __repr__(self) -> str:
        return (
            f"SaslEndpoint(bootstrap={self.bootstrap!r}, username={self.username!r}, "
            f"password='***', mechanism={self.mechanism!r})"
        )


def sasl_bootstrap(directory: Path | None = None) -> str | None:
    """SASL_PLAINTEXT (SCRAM) bootstrap address of the running local broker, if it has one."""
    broker = running_broker(directory)
    return None if broker is None else broker.sasl_bootstrap


def scram_user() -> ScramUser:
    """The SCRAM test user created on the local broker's SASL listener."""
    return default_scram_users()[0]


def sasl_endpoint(directory: Path | None = None) -> SaslEndpoint | None:
    """The running local broker's SASL listener with the test user, if it has one."""
    address = sasl_bootstrap(directory)
    if address is None:
        return None
    user = scram_user()
    return SaslEndpoint(address, user.username, user.password)


def runtime_scram_user() -> ScramUser:
    """The unprivileged SCRAM user (`runtime`): no ACLs until a test grants them."""
    return default_scram_users()[1]


def runtime_sasl_endpoint(directory: Path | None = None) -> SaslEndpoint | None:
    """The running local broker's SASL listener with the `runtime` user, if it has one."""
    address = sasl_bootstrap(directory)
    if address is None:
        return None
    user = runtime_scram_user()
    return SaslEndpoint(address, user.username, user.password)


class TlsEndpoint(NamedTuple):
    """The SSL listeners and the PEM files a client needs (librdkafka `ssl.*` locations).

    `bootstrap` verifies a client certificate if one is sent; `mtls_bootstrap` requires it.
    """

    bootstrap: str
    mtls_bootstrap: str
    ca_location: Path
    certificate_location: Path
    key_location: Path

    def client_config(self, *, mtls: bool = False, certificate: bool = False) -> dict[str, str]:
        """librdkafka settings for the SSL listener (`mtls`: the one requiring a certificate);
        the client certificate is sent with `mtls` or `certificate`."""
        config = {
            "bootstrap.servers": self.mtls_bootstrap if mtls else self.bootstrap,
            "security.protocol": "SSL",
            "ssl.ca.location": str(self.ca_location),
        }
        if mtls or certificate:
            config["ssl.certificate.location"] = str(self.certificate_location)
            config["ssl.key.location"] = str(self.key_location)
        return config


def tls_endpoint(directory: Path | None = None) -> TlsEndpoint | None:
    """The running local broker's SSL listeners and certificate paths, if it has them."""
    broker = running_broker(directory)
    if broker is None or broker.tls is None:
        return None
    if broker.ssl_bootstrap is None or broker.mtls_bootstrap is None:
        return None
    return TlsEndpoint(
        bootstrap=broker.ssl_bootstrap,
        mtls_bootstrap=broker.mtls_bootstrap,
        ca_location=broker.tls.ca,
        certificate_location=broker.tls.client_certificate,
        key_location=broker.tls.client_key,
    )
