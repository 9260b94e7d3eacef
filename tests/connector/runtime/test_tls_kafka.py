"""TLS and mTLS to the broker: the connector, both publishers and the CLI through the local
broker's SSL listeners (CA verification; a client certificate where required), and a start
that a wrong CA or a missing client certificate stops with one clear line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka.helpers import create_ssl_context
from cli_process import run_cli
from connector_env import ConnectorEnv, product_mutations, run_until
from recording_driver import RecordingDriver, read_batches

from connector import local_kafka
from connector.config import load_and_validate
from connector.driver_registry import DriverRegistry
from connector.kafka.preflight import check_connection, tls_refusal
from connector.publisher import AsyncMutationPublisher, MutationPublisher
from connector.runtime.app import EXIT_OK, ConnectorApp
from contracts import ConfigurationError, MutationData

pytestmark = pytest.mark.kafka

DRIVERS = DriverRegistry.from_classes({"recording": RecordingDriver})
# A secret that must never be echoed: the key password setting (the test key is not
# encrypted, so librdkafka ignores it; a leak would still show).
KEY_PASSWORD = "tls-key-password-must-not-leak-7f3a"


def handled_count(path: Path) -> int:
    return sum(len(batch["batch"]) for batch in read_batches(str(path)))


def kafka_settings(
    tls: local_kafka.TlsEndpoint, *, mtls: bool, ca: Path | None = None
) -> dict[str, Any]:
    """The connector's `kafka:` section for the SSL listener (`mtls`: the one that requires a
    client certificate, and the certificate)."""
    settings: dict[str, Any] = {
        "bootstrap_servers": tls.mtls_bootstrap if mtls else tls.bootstrap,
        "security_protocol": "SSL",
        "ssl_ca_location": str(ca or tls.ca_location),
    }
    if mtls:
        settings["ssl_certificate_location"] = str(tls.certificate_location)
        settings["ssl_key_location"] = str(tls.key_location)
    return settings


@pytest.mark.parametrize("mtls", [False, True], ids=["ca-verified", "client-certificate"])
async def test_publisher_and_connector_through_the_ssl_listeners(
    connector_env: ConnectorEnv, kafka_tls: local_kafka.TlsEndpoint, mtls: bool
) -> None:
    env = connector_env
    env.create_mutation_topics(["product"], partitions=2)
    mutations = product_mutations(entities=10, versions=3)
    client = kafka_tls.client_config(mtls=mtls)
    bootstrap = client.pop("bootstrap.servers")
    sync_part, async_part = mutations[:15], mutations[15:]
    with MutationPublisher(bootstrap, topics=env.topics, config=client) as publisher:
        for item in sync_part:
            publisher.publish(item)
        publisher.flush(30)
    await _publish_async(env, kafka_tls, async_part, mtls=mtls)
    config = env.config(kafka=kafka_settings(kafka_tls, mtls=mtls))
    settings, configs = load_and_validate(config, DRIVERS)
    app = ConnectorApp(settings, DRIVERS, configs, install_signal_handlers=False)

    code = await run_until(app, lambda: handled_count(env.output) >= len(mutations))

    assert code == EXIT_OK
    assert handled_count(env.output) == len(mutations)


async def _publish_async(
    env: ConnectorEnv, tls: local_kafka.TlsEndpoint, items: list[MutationData], *, mtls: bool
) -> None:
    """aiokafka takes an `ssl.SSLContext` instead of librdkafka's file settings."""
    context = create_ssl_context(
        cafile=str(tls.ca_location),
        certfile=str(tls.certificate_location) if mtls else None,
        keyfile=str(tls.key_location) if mtls else None,
    )
    bootstrap = tls.mtls_bootstrap if mtls else tls.bootstrap
    config = {"security_protocol": "SSL", "ssl_context": context}
    async with AsyncMutationPublisher(bootstrap, topics=env.topics, config=config) as publisher:
        for item in items:
            await publisher.publish(item)
        await publisher.flush()


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`iec-connector ARGS` in a process of its own, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IEC_")}
    return run_cli(*args, env=env, timeout=timeout, columns=None)


def _write(env: ConnectorEnv, kafka: dict[str, Any], name: str) -> Path:
    path = env.config(kafka=kafka, name=name)
    data = yaml.safe_load(path.read_text())
    data["kafka"].pop("extra", None)
    # the driver the CLI finds installed (`recording` lives in the test tree only)
    data["integrations"][0]["driver"] = "example"
    data["integrations"][0]["config"] = {
        "base_url": "https://shop.example.com/api",
        "api_key": "0123456789abcdef0123",
    }
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("mtls", [False, True], ids=["ca-verified", "client-certificate"])
def test_cli_creates_topics_and_reads_through_the_ssl_listeners(
    connector_env: ConnectorEnv, kafka_tls: local_kafka.TlsEndpoint, mtls: bool
) -> None:
    env = connector_env
    config = _write(env, kafka_settings(kafka_tls, mtls=mtls), "cli-tls.yaml")

    created = _cli("topics", "create", "--config", str(config))
    counted = _cli(
        "mappings", "count", "--config", str(config), "--integration", "test-integration"
    )

    assert created.returncode == 0, created.stderr
    assert "created" in created.stdout
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.strip() == "0"


@pytest.mark.parametrize(
    ("case", "setting"),
    [
        ("a CA that did not sign the broker", "kafka.ssl_ca_location"),
        ("no client certificate for the mTLS listener", "kafka.ssl_certificate_location"),
    ],
)
def test_a_start_the_broker_refuses_ends_with_one_line_naming_the_setting(
    connector_env: ConnectorEnv,
    kafka_tls: local_kafka.TlsEndpoint,
    tmp_path: Path,
    case: str,
    setting: str,
) -> None:
    env = connector_env
    if case.startswith("a CA that"):
        kafka = kafka_settings(kafka_tls, mtls=False, ca=local_kafka.make_ca(tmp_path / "other"))
    else:
        kafka = kafka_settings(kafka_tls, mtls=True)
        del kafka["ssl_certificate_location"], kafka["ssl_key_location"]
    kafka["ssl_key_password"] = KEY_PASSWORD
    config = _write(env, kafka, "refused.yaml")

    result = _cli("run", "--config", str(config))

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot start" in lines[0] or lines[0].startswith("error: ")
    assert f"check {setting}" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert KEY_PASSWORD not in result.stderr + result.stdout


def test_preflight_names_a_missing_tls_file_before_any_connection(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "ca.pem"
    config = {"bootstrap.servers": "127.0.0.1:9", "security.protocol": "SSL"}

    with pytest.raises(ConfigurationError) as refused:
        check_connection({**config, "ssl.ca.location": str(missing)}, timeout_s=5)

    assert str(refused.value).endswith("check kafka.ssl_ca_location (the path of a PEM file)")
    assert str(missing) in str(refused.value)


@pytest.mark.parametrize(
    ("librdkafka", "setting"),
    [
        (
            "SSL handshake failed: error:0A000086:SSL routines::certificate verify failed",
            "kafka.ssl_ca_location",
        ),
        (
            "Receive failed: error:0A000412:SSL routines::ssl/tls alert bad certificate",
            "kafka.ssl_certificate_location",
        ),
        (
            "Receive failed: ssl/tls alert certificate required: SSL alert number 116",
            "kafka.ssl_certificate_location",
        ),
    ],
)
def test_tls_refusals_name_the_setting_to_fix(librdkafka: str, setting: str) -> None:
    hint = tls_refusal(librdkafka)

    assert hint is not None
    assert setting in hint
    assert tls_refusal("Connect to ipv4#127.0.0.1:9 failed: Connection refused") is None
