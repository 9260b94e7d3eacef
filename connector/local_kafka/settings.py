"""What a local broker looks like (ports, folders, test users) and its rendered configuration.

Pure functions only: no process or file I/O besides reading the packaged template.
"""

from __future__ import annotations

import base64
import os
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template

from .certificates import CLIENT_COMMON_NAME, TlsFiles

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MTLS_PORT",
    "DEFAULT_PORT",
    "DEFAULT_SASL_PORT",
    "DEFAULT_SSL_PORT",
    "RUNTIME_PASSWORD_ENV",
    "RUNTIME_USERNAME",
    "SCRAM_MECHANISMS",
    "SCRAM_PASSWORD_ENV",
    "SCRAM_USERNAME",
    "BrokerSettings",
    "ScramUser",
    "default_scram_users",
    "new_cluster_id",
    "render_server_properties",
    "scram_format_arguments",
    "super_users",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9092
DEFAULT_SASL_PORT = 9094
DEFAULT_SSL_PORT = 9095
DEFAULT_MTLS_PORT = 9096
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
SCRAM_USERNAME = "connector"
SCRAM_PASSWORD_ENV = "IEC_KAFKA_SCRAM_PASSWORD"
_DEFAULT_SCRAM_PASSWORD = "connector-secret"
# An unprivileged SCRAM user: no ACLs until a test grants them (authorizer tests).
RUNTIME_USERNAME = "runtime"
RUNTIME_PASSWORD_ENV = "IEC_KAFKA_RUNTIME_PASSWORD"
_DEFAULT_RUNTIME_PASSWORD = "runtime-secret"
# Client certificates' principal is their CN (`User:iec-client`), not the whole DN.
_SSL_PRINCIPAL_RULES = "RULE:^CN=([^,]+)(,.*)?$/$1/,DEFAULT"


@dataclass(frozen=True)
class ScramUser:
    """A SASL/SCRAM user created when storage is formatted (for tests of secured listeners)."""

    username: str
    password: str = field(repr=False)


def default_scram_users(environ: dict[str, str] | None = None) -> tuple[ScramUser, ...]:
    """The fixed test users: `connector` (a super user; password from IEC_KAFKA_SCRAM_PASSWORD)
    first, then `runtime` (no ACLs; password from IEC_KAFKA_RUNTIME_PASSWORD)."""
    env = os.environ if environ is None else environ
    return (
        ScramUser(SCRAM_USERNAME, env.get(SCRAM_PASSWORD_ENV) or _DEFAULT_SCRAM_PASSWORD),
        ScramUser(RUNTIME_USERNAME, env.get(RUNTIME_PASSWORD_ENV) or _DEFAULT_RUNTIME_PASSWORD),
    )


def super_users() -> tuple[str, ...]:
    """Principals the authorizer lets do anything: every existing client keeps working.

    `ANONYMOUS` is whoever comes through PLAINTEXT (clients, inter-broker, controller) or SSL
    without a client certificate; `connector` is the SCRAM admin; `iec-client` is the test
    client certificate. Only `runtime` (and any user a test adds) is subject to ACLs.
    """
    return ("User:ANONYMOUS", f"User:{SCRAM_USERNAME}", f"User:{CLIENT_COMMON_NAME}")


@dataclass(frozen=True)
class BrokerSettings:
    """Listeners, data folder and authorization of one single-node KRaft broker.

    `sasl_port=None` leaves out the SASL_PLAINTEXT listener; the controller port defaults
    to `port + 1`. `ssl_port` is an SSL listener that verifies a client certificate if one
    is sent (`ssl.client.auth=requested`), `mtls_port` one that requires it; both need
    `tls` (the PEM files). `authorizer` turns on StandardAuthorizer with `super_users()`.
    """

    data_dir: Path
    port: int = DEFAULT_PORT
    sasl_port: int | None = DEFAULT_SASL_PORT
    controller_port: int | None = None
    host: str = DEFAULT_HOST
    ssl_port: int | None = None
    mtls_port: int | None = None
    tls: TlsFiles | None = None
    authorizer: bool = False

    def __post_init__(self) -> None:
        ports = self.ports
        for port in ports:
            if not 0 < port < 65536:
                raise ValueError(f"port {port} is outside 1..65535")
        if len(set(ports)) != len(ports):
            raise ValueError(f"listener ports must differ, got {ports}")
        if (self.ssl_port is not None or self.mtls_port is not None) and self.tls is None:
            raise ValueError("an SSL listener needs the TLS files (tls=TlsFiles(...))")

    @property
    def ports(self) -> list[int]:
        """Every port the broker listens on."""
        optional = (self.sasl_port, self.ssl_port, self.mtls_port)
        return [self.port, self.effective_controller_port, *(p for p in optional if p is not None)]

    @property
    def effective_controller_port(self) -> int:
        """The CONTROLLER listener's port."""
        return self.controller_port if self.controller_port is not None else self.port + 1

    @property
    def bootstrap(self) -> str:
        """Bootstrap address of the PLAINTEXT listener."""
        return f"{self.host}:{self.port}"

    @property
    def sasl_bootstrap(self) -> str | None:
        """Bootstrap address of the SASL_PLAINTEXT listener, if there is one."""
        return None if self.sasl_port is None else f"{self.host}:{self.sasl_port}"

    @property
    def ssl_bootstrap(self) -> str | None:
        """Bootstrap address of the SSL listener (client certificate optional), if any."""
        return None if self.ssl_port is None else f"{self.host}:{self.ssl_port}"

    @property
    def mtls_bootstrap(self) -> str | None:
        """Bootstrap address of the SSL listener that requires a client certificate, if any."""
        return None if self.mtls_port is None else f"{self.host}:{self.mtls_port}"


def new_cluster_id() -> str:
    """A cluster id as `StorageTool random-uuid` makes one (saves a JVM start).

    Kafka's `Uuid.toString()` is URL-safe base64 of 16 random bytes without padding; like
    `Uuid.randomUuid()` it never starts with '-' (command-line parsers would take it for a flag).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _template() -> Template:
    text = resources.files(__package__).joinpath("server.properties.template").read_text("utf-8")
    return Template(text)


def render_server_properties(settings: BrokerSettings) -> str:
    """The broker's `server.properties` for these settings."""
    host = settings.host
    listeners = [
        f"PLAINTEXT://{host}:{settings.port}",
        f"CONTROLLER://{host}:{settings.effective_controller_port}",
    ]
    sasl_settings = ""
    if settings.sasl_port is not None:
        listeners.append(f"SASL_PLAINTEXT://{host}:{settings.sasl_port}")
        # Each SASL listener+mechanism needs a JAAS entry; the credentials live in the
        # metadata log (added at format time), so the login module needs no options.
        jaas = [
            f"listener.name.sasl_plaintext.{mechanism.lower()}.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            for mechanism in SCRAM_MECHANISMS
        ]
        sasl_settings = "\n".join(
            [
                "",
                "############################# SASL/SCRAM (client-only listener) ####",
                f"sasl.enabled.mechanisms={','.join(SCRAM_MECHANISMS)}",
                *jaas,
                "",
            ]
        )
    tls_lines: list[str] = []
    tls_listeners = (
        ("ssl", settings.ssl_port, "requested"),
        ("mtls", settings.mtls_port, "required"),
    )
    for name, port, client_auth in tls_listeners:
        if port is None or settings.tls is None:
            continue
        listeners.append(f"{name.upper()}://{host}:{port}")
        # PEM stores need no passwords (the key is unencrypted PKCS#8).
        prefix = f"listener.name.{name}.ssl."
        tls_lines += [
            f"{prefix}keystore.type=PEM",
            f"{prefix}keystore.location={settings.tls.broker_keystore.as_posix()}",
            f"{prefix}truststore.type=PEM",
            f"{prefix}truststore.location={settings.tls.ca.as_posix()}",
            f"{prefix}client.auth={client_auth}",
        ]
    if tls_lines:
        tls_lines[:0] = [
            "",
            "############################# SSL (client-only listeners) #####",
            f"ssl.principal.mapping.rules={_SSL_PRINCIPAL_RULES}",
        ]
        tls_lines.append("")
    authorizer_lines: list[str] = []
    if settings.authorizer:
        authorizer_lines = [
            "",
            "############################# Authorization (KRaft ACLs) #######",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            f"super.users={';'.join(super_users())}",
            "allow.everyone.if.no.acl.found=false",
            "",
        ]
    joined = ",".join(listeners)
    return _template().substitute(
        host=host,
        controller_port=settings.effective_controller_port,
        listeners=joined,
        advertised_listeners=joined,
        security_settings=sasl_settings + "\n".join(tls_lines) + "\n".join(authorizer_lines),
        data_dir=settings.data_dir.as_posix(),
    )


def scram_format_arguments(users: tuple[ScramUser, ...]) -> list[str]:
    """`StorageTool format` arguments that create `users` for every SCRAM mechanism."""
    arguments: list[str] = []
    for user in users:
        for value in (user.username, user.password):
            # StorageTool splits `[name=...,password=...]` on commas and '=' outside quotes.
            if '"' in value or not value:
                raise ValueError("SCRAM user names and passwords must be non-empty without '\"'")
        for mechanism in SCRAM_MECHANISMS:
            arguments += [
                "--add-scram",
                f'{mechanism}=[name="{user.username}",password="{user.password}"]',
            ]
    return arguments
