"""The local broker's SSL/mTLS listeners, test certificates and authorizer."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
)
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType

from connector import local_kafka
from connector.local_kafka import SaslEndpoint, TlsEndpoint
from connector.local_kafka.certificates import TlsFiles, ensure_certificates
from connector.local_kafka.settings import (
    BrokerSettings,
    default_scram_users,
    render_server_properties,
)


def _properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


# --- configuration (pure) -----------------------------------------------------------------


def test_ssl_listeners_use_pem_stores_without_passwords(tmp_path: Path) -> None:
    tls = TlsFiles(tmp_path / "tls")
    settings = BrokerSettings(
        tmp_path / "data", 19092, 19094, ssl_port=19095, mtls_port=19096, tls=tls
    )
    props = _properties(render_server_properties(settings))

    assert props["listeners"].split(",")[-2:] == ["SSL://127.0.0.1:19095", "MTLS://127.0.0.1:19096"]
    assert "MTLS:SSL" in props["listener.security.protocol.map"].split(",")
    for name, client_auth in (("ssl", "requested"), ("mtls", "required")):
        prefix = f"listener.name.{name}.ssl."
        assert props[prefix + "keystore.type"] == "PEM"
        assert props[prefix + "keystore.location"] == tls.broker_keystore.as_posix()
        assert props[prefix + "truststore.location"] == tls.ca.as_posix()
        assert props[prefix + "client.auth"] == client_auth
    assert not [key for key in props if "password" in key]
    assert settings.ssl_bootstrap == "127.0.0.1:19095"
    assert settings.mtls_bootstrap == "127.0.0.1:19096"


def test_authorizer_makes_every_existing_principal_a_super_user_but_runtime(
    tmp_path: Path,
) -> None:
    settings = BrokerSettings(tmp_path, authorizer=True)
    props = _properties(render_server_properties(settings))

    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    supers = props["super.users"].split(";")
    assert supers == ["User:ANONYMOUS", "User:connector", "User:iec-client"]
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert "authorizer.class.name" not in _properties(
        render_server_properties(BrokerSettings(tmp_path))
    )


def test_ssl_listener_without_certificates_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TLS files"):
        BrokerSettings(tmp_path, ssl_port=19095)
    with pytest.raises(ValueError, match="differ"):
        BrokerSettings(tmp_path, ssl_port=9094, tls=TlsFiles(tmp_path))


def test_runtime_user_takes_its_password_from_the_environment() -> None:
    connector, runtime = default_scram_users({"IEC_KAFKA_RUNTIME_PASSWORD": "r-pass"})

    assert (connector.username, runtime.username, runtime.password) == (
        "connector",
        "runtime",
        "r-pass",
    )


# --- certificates (openssl, no broker) ----------------------------------------------------


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> str:
    """TLS handshake over a socket pair; returns the client certificate CN the server saw."""
    left, right = socket.socketpair()
    seen: list[Any] = []

    def serve() -> None:
        try:
            with server.wrap_socket(left, server_side=True) as tls:
                seen.append(tls.getpeercert())
        except ssl.SSLError:
            left.close()  # the client reports its own side of the failure

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client.wrap_socket(right, server_hostname="localhost"):
            pass
    finally:
        thread.join(10)
    peer = seen[0] if seen else None
    if not peer:
        return ""
    return str(dict(item[0] for item in peer["subject"])["commonName"])


def test_certificates_chain_to_the_ca_and_are_reused_while_valid(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "tls")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.broker_keystore)  # key + chain in one file, as Kafka reads it
    server.load_verify_locations(files.ca)
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(cafile=files.ca)
    client.load_cert_chain(files.client_certificate, files.client_key)

    assert _handshake(server, client) == local_kafka.CLIENT_COMMON_NAME
    assert files.broker_keystore.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    for secret in (files.ca_key, files.client_key, files.broker_keystore):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    ca_before = files.ca.read_bytes()
    assert ensure_certificates(files.folder).ca.read_bytes() == ca_before
    assert ensure_certificates(files.folder, renew=True).ca.read_bytes() != ca_before


def test_a_client_trusting_another_ca_refuses_the_broker_certificate(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "tls")
    other_ca = local_kafka.make_ca(tmp_path / "other")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.broker_keystore)
    client = ssl.create_default_context(cafile=other_ca)

    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, client)


# --- against the real broker --------------------------------------------------------------


def _quiet(config: dict[str, Any], errors: list[KafkaError] | None = None) -> dict[str, Any]:
    sink = [] if errors is None else errors
    return {**config, "error_cb": sink.append, "log_level": 0}


def test_ssl_listener_round_trip_with_ca_verification(
    kafka_tls: TlsEndpoint,
    unique_topic: Callable[[str], str],
    create_topics: Callable[..., list[str]],
) -> None:
    (topic,) = create_topics([unique_topic("ssl")])
    producer = Producer(_quiet({**kafka_tls.client_config(), "acks": "all"}))
    for index in range(5):
        producer.produce(topic, key=b"k", value=f"v{index}".encode())
    assert producer.flush(30) == 0
    consumer = Consumer(
        _quiet(
            {
                **kafka_tls.client_config(mtls=True),
                "group.id": f"test-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
            }
        )
    )
    values: list[bytes] = []
    try:
        consumer.subscribe([topic])
        for _ in range(300):
            message = consumer.poll(0.1)
            if message is not None and message.error() is None:
                value = message.value()
                assert isinstance(value, bytes)
                values.append(value)
            if len(values) == 5:
                break
    finally:
        consumer.close()
    assert values == [f"v{index}".encode() for index in range(5)]


@pytest.mark.parametrize(
    "case", ["mtls without a client certificate", "a CA that did not sign the broker"]
)
def test_ssl_listener_refuses_a_client_that_cannot_prove_itself(
    kafka_tls: TlsEndpoint, tmp_path: Path, case: str
) -> None:
    if case.startswith("mtls"):
        config = {**kafka_tls.client_config(mtls=True)}
        del config["ssl.certificate.location"], config["ssl.key.location"]
    else:
        config = {
            **kafka_tls.client_config(),
            "ssl.ca.location": str(local_kafka.make_ca(tmp_path)),
        }
    client = AdminClient(_quiet(config))

    with pytest.raises(KafkaException):
        client.list_topics(timeout=3)
    assert AdminClient(_quiet(kafka_tls.client_config(mtls=True))).list_topics(timeout=15).brokers


def _runtime_produce(endpoint: SaslEndpoint, topic: str) -> KafkaError | None:
    config = {
        "bootstrap.servers": endpoint.bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": endpoint.mechanism,
        "sasl.username": endpoint.username,
        "sasl.password": endpoint.password,
        "message.timeout.ms": 10_000,
    }
    outcome: list[KafkaError | None] = []
    producer = Producer(_quiet(config))
    producer.produce(topic, b"x", on_delivery=lambda error, _message: outcome.append(error))
    producer.flush(20)
    return outcome[0]


def test_runtime_user_needs_an_acl_that_a_super_user_can_grant(
    kafka_runtime_sasl: SaslEndpoint,
    admin: AdminClient,
    unique_topic: Callable[[str], str],
    create_topics: Callable[..., list[str]],
) -> None:
    (topic,) = create_topics([unique_topic("acl")])
    denied = _runtime_produce(kafka_runtime_sasl, topic)
    assert denied is not None
    assert denied.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    grant = AclBinding(
        ResourceType.TOPIC,
        topic,
        ResourcePatternType.LITERAL,
        f"User:{kafka_runtime_sasl.username}",
        "*",
        AclOperation.WRITE,
        AclPermissionType.ALLOW,
    )
    admin.create_acls([grant])[grant].result(timeout=15)
    try:
        assert _runtime_produce(kafka_runtime_sasl, topic) is None
    finally:
        matching = AclBindingFilter(
            ResourceType.TOPIC,
            topic,
            ResourcePatternType.LITERAL,
            None,  # type: ignore[arg-type]  # None matches any principal/host (librdkafka)
            None,  # type: ignore[arg-type]
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        admin.delete_acls([matching])[matching].result(timeout=15)
