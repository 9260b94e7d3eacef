"""The local Kafka launcher: pure parts without a broker, then against the real broker."""

from __future__ import annotations

import base64
import socket
import struct
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from connector import local_kafka
from connector.local_kafka import SaslEndpoint
from connector.local_kafka.probe import (
    ProtocolError,
    broker_answers,
    decode_api_versions_response,
    decode_metadata_response,
    encode_metadata_request,
    parse_bootstrap,
    query_metadata,
)
from connector.local_kafka.settings import (
    BrokerSettings,
    ScramUser,
    new_cluster_id,
    render_server_properties,
    scram_format_arguments,
)


def _properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- configuration (pure) -----------------------------------------------------------------


def test_properties_bind_every_listener_to_localhost_and_use_the_data_dir(tmp_path: Path) -> None:
    settings = BrokerSettings(data_dir=tmp_path / "data", port=19092, sasl_port=19094)
    props = _properties(render_server_properties(settings))

    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093,SASL_PLAINTEXT://127.0.0.1:19094"
    )
    assert props["advertised.listeners"] == props["listeners"]
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["log.dirs"] == (tmp_path / "data").as_posix()
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-256,SCRAM-SHA-512"
    jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    assert props["listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config"] == jaas
    assert props["listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config"] == jaas
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["log.cleaner.dedupe.buffer.size"] == "2097152"
    assert "$" not in render_server_properties(settings).replace("$name", "")


def test_properties_without_sasl_have_no_sasl_listener_or_mechanisms(tmp_path: Path) -> None:
    settings = BrokerSettings(data_dir=tmp_path, port=29092, sasl_port=None, controller_port=29999)
    props = _properties(render_server_properties(settings))

    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29999"
    assert "sasl.enabled.mechanisms" not in props
    assert settings.sasl_bootstrap is None
    assert settings.bootstrap == "127.0.0.1:29092"


@pytest.mark.parametrize(
    ("port", "sasl_port", "controller_port"),
    [(9092, 9093, None), (9092, 9094, 9094), (0, 9094, None), (9092, 70000, None)],
)
def test_settings_reject_clashing_or_invalid_ports(
    tmp_path: Path, port: int, sasl_port: int, controller_port: int | None
) -> None:
    with pytest.raises(ValueError, match="port"):
        BrokerSettings(tmp_path, port=port, sasl_port=sasl_port, controller_port=controller_port)


def test_cluster_id_is_22_char_url_safe_base64_of_16_bytes() -> None:
    ids = {new_cluster_id() for _ in range(500)}

    assert len(ids) == 500
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_scram_arguments_add_the_user_for_both_mechanisms() -> None:
    arguments = scram_format_arguments((ScramUser("connector", "s3cr,et=x"),))

    assert arguments == [
        "--add-scram",
        'SCRAM-SHA-256=[name="connector",password="s3cr,et=x"]',
        "--add-scram",
        'SCRAM-SHA-512=[name="connector",password="s3cr,et=x"]',
    ]
    with pytest.raises(ValueError, match="without"):
        scram_format_arguments((ScramUser("connector", 'bad"quote'),))


def test_scram_user_repr_hides_the_password() -> None:
    assert "connector-secret" not in repr(ScramUser("connector", "connector-secret"))


# --- wire probe (pure + local sockets) ----------------------------------------------------


def _metadata_response(correlation_id: int) -> bytes:
    host = b"127.0.0.1"
    cluster = b"abcdefghijklmnopqrstuv"
    return (
        struct.pack(">ii", correlation_id, 0)  # correlation id, throttle
        + struct.pack(">i", 1)  # one broker
        + struct.pack(">ih", 1, len(host))
        + host
        + struct.pack(">ih", 9092, -1)  # port, null rack
        + struct.pack(">h", len(cluster))
        + cluster
        + struct.pack(">i", 1)  # controller id
        + struct.pack(">i", 0)  # no topics
    )


def test_metadata_response_decodes_brokers_cluster_and_controller() -> None:
    metadata = decode_metadata_response(_metadata_response(7), 7)

    assert [(b.node_id, b.host, b.port) for b in metadata.brokers] == [(1, "127.0.0.1", 9092)]
    assert metadata.cluster_id == "abcdefghijklmnopqrstuv"
    assert metadata.controller_id == 1


@pytest.mark.parametrize("cut", [0, 3, 10, 20, 40])
def test_truncated_or_mismatched_responses_raise_protocol_error(cut: int) -> None:
    with pytest.raises(ProtocolError):
        decode_metadata_response(_metadata_response(7)[:cut], 7)
    with pytest.raises(ProtocolError, match="correlation"):
        decode_metadata_response(_metadata_response(8), 7)
    with pytest.raises(ProtocolError):
        decode_api_versions_response(struct.pack(">ihi", 1, 0, 1_000_000), 1)


def test_metadata_request_asks_for_no_topics() -> None:
    request = encode_metadata_request(correlation_id=5, version=4)
    size, api_key, version, correlation = struct.unpack(">ihhi", request[:12])

    assert (size, api_key, version, correlation) == (len(request) - 4, 3, 4, 5)
    assert request.endswith(struct.pack(">ib", 0, 0))
    with pytest.raises(ValueError, match="v3"):
        encode_metadata_request(1, version=3)


def test_parse_bootstrap_accepts_lists_schemes_and_ipv6() -> None:
    assert parse_bootstrap("a:1, PLAINTEXT://b:2,[::1]:3") == [("a", 1), ("b", 2), ("::1", 3)]
    with pytest.raises(ValueError, match="host:port"):
        parse_bootstrap("no-port")


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP listener that accepts and closes connections without speaking Kafka."""
    server = socket.create_server(("127.0.0.1", 0))
    port: int = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join()
    server.close()


def test_broker_answers_is_false_for_closed_ports_and_non_kafka_listeners(
    silent_listener: int,
) -> None:
    assert broker_answers(f"127.0.0.1:{_free_port()}", timeout=1.0) is False
    assert broker_answers(f"127.0.0.1:{silent_listener}", timeout=1.0) is False


# --- against the real broker --------------------------------------------------------------


def test_broker_answers_a_metadata_request(kafka_bootstrap: str) -> None:
    (host, port), *_ = parse_bootstrap(kafka_bootstrap)
    metadata = query_metadata(host, port, timeout=10.0)

    assert metadata.brokers
    assert metadata.cluster_id
    assert broker_answers(kafka_bootstrap, timeout=10.0) is True


def test_produce_and_consume_round_trip(
    kafka_bootstrap: str,
    unique_topic: Callable[[str], str],
    create_topics: Callable[..., list[str]],
) -> None:
    (topic,) = create_topics([unique_topic("round-trip")], partitions=2)
    sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(20)}
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    for key, value in sent.items():
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    received: dict[bytes, bytes] = {}
    try:
        consumer.subscribe([topic])
        for _ in range(300):
            message = consumer.poll(0.1)
            if message is not None:
                assert message.error() is None
                got_key, got_value = message.key(), message.value()
                assert isinstance(got_key, bytes)
                assert isinstance(got_value, bytes)
                received[got_key] = got_value
            if len(received) == len(sent):
                break
    finally:
        consumer.close()
    assert received == sent


def _sasl_admin(endpoint: SaslEndpoint, password: str, errors: list[KafkaError]) -> AdminClient:
    config: dict[str, Any] = {
        "bootstrap.servers": endpoint.bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": endpoint.mechanism,
        "sasl.username": endpoint.username,
        "sasl.password": password,
        "error_cb": errors.append,
        "log_level": 0,  # librdkafka would print every failed attempt to stderr
    }
    return AdminClient(config)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_listener_accepts_the_right_scram_password(
    kafka_sasl: SaslEndpoint, mechanism: str
) -> None:
    endpoint = kafka_sasl._replace(mechanism=mechanism)
    errors: list[KafkaError] = []

    metadata = _sasl_admin(endpoint, endpoint.password, errors).list_topics(timeout=15)

    assert metadata.brokers
    assert errors == []


def test_sasl_listener_rejects_a_wrong_password_without_echoing_it(
    kafka_sasl: SaslEndpoint,
) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    errors: list[KafkaError] = []

    client = _sasl_admin(kafka_sasl, wrong, errors)

    with pytest.raises(KafkaException) as raised:
        client.list_topics(timeout=3)
    client.poll(1.0)  # serves the error callbacks

    auth_errors = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
    assert auth_errors, errors
    assert "invalid credentials" in auth_errors[0].str()
    for text in [str(raised.value), *(e.str() for e in errors)]:
        assert wrong not in text


@pytest.mark.kafka
def test_launcher_starts_once_and_stops_a_second_broker(tmp_path: Path) -> None:
    """Full lifecycle on free ports and a private state folder (the session broker stays)."""
    port, sasl_port, controller_port = _free_port(), _free_port(), _free_port()
    ssl_port, mtls_port = _free_port(), _free_port()

    def up() -> str:
        return local_kafka.ensure_running(
            port,
            sasl_port=sasl_port,
            ssl_port=ssl_port,
            mtls_port=mtls_port,
            controller_port=controller_port,
            directory=tmp_path,
        )

    try:
        bootstrap = up()
        first = local_kafka.running_broker(tmp_path)
        again = up()
        second = local_kafka.running_broker(tmp_path)

        assert bootstrap == again == f"127.0.0.1:{port}"
        assert first is not None
        assert second is not None
        assert first.pid == second.pid
        assert first.sasl_bootstrap == f"127.0.0.1:{sasl_port}"
        assert first.ssl_bootstrap == f"127.0.0.1:{ssl_port}"
        assert first.mtls_bootstrap == f"127.0.0.1:{mtls_port}"
        assert first.authorizer is True
        assert first.tls is not None
        assert first.tls.ca.is_file()
        assert local_kafka.is_running(tmp_path)
        assert (tmp_path / "data" / "meta.properties").is_file()
    finally:
        stopped = local_kafka.stop(tmp_path)

    assert stopped is True
    assert not local_kafka.is_running(tmp_path)
    assert not (tmp_path / "broker.pid").exists()
    assert local_kafka.stop(tmp_path) is False
