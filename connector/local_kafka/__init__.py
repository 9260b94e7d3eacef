"""A real single-node Apache Kafka 4.x broker (KRaft) for development and tests, without Docker.

The broker is assembled from Maven Central jars into a cache outside the repository and
runs as a detached JVM on 127.0.0.1: PLAINTEXT on 9092, SASL_PLAINTEXT with SCRAM-SHA-256/512
on 9094 (user `connector`, password from IEC_KAFKA_SCRAM_PASSWORD, default
`connector-secret`). CLI: `python -m connector.local_kafka up|down|status|logs`.
Standard library only: usable before the project's dependencies are installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

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
from .settings import (
    DEFAULT_PORT,
    DEFAULT_SASL_PORT,
    SCRAM_MECHANISMS,
    ScramUser,
    default_scram_users,
)

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_SASL_PORT",
    "KAFKA_VERSION",
    "SCRAM_MECHANISMS",
    "BrokerStatus",
    "LocalKafkaError",
    "SaslEndpoint",
    "ScramUser",
    "broker_answers",
    "ensure_running",
    "is_running",
    "log_path",
    "running_broker",
    "sasl_bootstrap",
    "sasl_endpoint",
    "scram_user",
    "state_dir",
    "stop",
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
