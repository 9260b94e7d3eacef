"""Start-up failures of every command: one redacted line on stderr and the documented code
(2: the configuration must change; 1: something else failed), never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from connector_env import ConnectorEnv

from connector.local_kafka import SaslEndpoint
from schemas import schema_text

SUPPORT = Path(__file__).resolve().parents[2] / "support"
WRONG_PASSWORD = "Wr0ng-Canary-Passw0rd"
INTEGRATION = "6f1d1c2e-61c4-4b0e-9d55-5a3c2f0e8a10"


def _config(tmp_path: Path, kafka: dict[str, Any], **sections: Any) -> Path:
    data = {
        "kafka": kafka,
        "integrations": [
            {
                "uuid": INTEGRATION,
                "name": "shop",
                "driver": "example",
                "config": {"base_url": "https://shop.test", "api_key": "k-12345678"},
            }
        ],
        **sections,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _command(name: str, config: Path) -> list[str]:
    """The command line of `name` (the runtime through the test drivers' launcher)."""
    if name == "run":
        return [sys.executable, str(SUPPORT / "connector_process.py"), str(config)]
    given = ["--config", str(config)]
    at = ["--integration", "shop"]
    return [
        sys.executable,
        "-m",
        "connector.cli",
        *{
            "topics create": ["topics", "create", *given],
            "mappings count": ["mappings", "count", *given, *at],
            "dead-letters list": ["dead-letters", "list", *given, *at],
            "dead-letters replay": ["dead-letters", "replay", *given, *at],
            "schemas register": ["schemas", "register", *given],
            "schemas check": ["schemas", "check", str(config.with_name("new.avsc")), *given],
        }[name],
    ]


def _lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def _run(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )


COMMANDS = ["run", "topics create", "mappings count", "dead-letters list", "dead-letters replay"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_refused_password_is_one_line_and_exit_2_for_every_command(
    command: str, kafka_sasl: SaslEndpoint, tmp_path: Path
) -> None:
    config = _config(
        tmp_path,
        {
            "bootstrap_servers": kafka_sasl.bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": kafka_sasl.mechanism,
            "sasl_username": kafka_sasl.username,
            "sasl_password": "${TEST_SASL_PASSWORD}",
        },
    )
    started = time.monotonic()
    result = _run(_command(command, config), TEST_SASL_PASSWORD=WRONG_PASSWORD)
    took = time.monotonic() - started

    assert result.returncode == 2, result.stderr
    (line,) = _lines(result)
    assert "invalid credentials" in line
    assert "kafka.sasl_password" in line
    assert WRONG_PASSWORD not in result.stderr + result.stdout
    assert took < 60  # refused at once, not after the request timeouts


@pytest.mark.parametrize(
    ("command", "ca_file"), [("schemas register", "missing"), ("schemas check", "not PEM")]
)
def test_a_registry_tls_file_that_is_unusable_is_one_line_naming_the_setting(
    command: str, ca_file: str, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    if ca_file == "not PEM":
        ca.write_text("not a certificate\n")
    registry = {
        "url": "https://127.0.0.1:1",
        "ssl_ca_location": str(ca),
        "basic_auth_user": "reg",
        "basic_auth_password": WRONG_PASSWORD,
    }
    config = _config(tmp_path, {"bootstrap_servers": "127.0.0.1:1"}, schema_registry=registry)
    config.with_name("new.avsc").write_text(schema_text("mutation_data"), encoding="utf-8")

    result = _run(_command(command, config))

    assert result.returncode == 2, result.stderr
    (line,) = _lines(result)
    assert line.startswith("error: schema_registry.ssl_ca_location")
    assert "Traceback" not in result.stderr
    assert WRONG_PASSWORD not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("command", "ca_file"),
    [("run", "missing"), ("topics create", "not PEM"), ("dead-letters list", "missing")],
)
def test_an_unreadable_tls_file_is_one_line_naming_the_setting(
    command: str, ca_file: str, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    if ca_file == "not PEM":
        ca.write_text("not a certificate\n")
    config = _config(
        tmp_path,
        {
            "bootstrap_servers": "127.0.0.1:1",
            "security_protocol": "SSL",
            "ssl_ca_location": str(ca),
            "ssl_key_password": WRONG_PASSWORD,
        },
    )
    result = _run(_command(command, config))

    assert result.returncode == 2, result.stderr
    (line,) = _lines(result)
    assert "check kafka.ssl_ca_location" in line
    assert "Traceback" not in result.stderr
    assert WRONG_PASSWORD not in result.stderr + result.stdout


def test_run_refuses_missing_topics_unless_it_may_create_them(
    connector_env: ConnectorEnv, tmp_path: Path
) -> None:
    env = connector_env
    path = env.config()
    config = yaml.safe_load(path.read_text())
    config["topics"]["create_missing"] = False
    path.write_text(yaml.safe_dump(config))

    result = _run(_command("run", path))

    assert result.returncode == 2, result.stderr
    (line,) = _lines(result)
    assert "missing topics: " in line
    assert env.topics.mutation_topic("product") in line
    assert "iec-connector topics create" in line
    assert "topics.create_missing" in line


def test_a_driver_open_failure_is_one_redacted_line_and_exit_1(
    connector_env: ConnectorEnv, tmp_path: Path
) -> None:
    env = connector_env
    api_key, password = "Open-Canary-Key-77", "Open-Canary-Pg-88"
    path = env.config(
        driver="leaky",
        driver_config={
            "base_url": "https://shop.test",
            "api_key": api_key,
            "access_key": "Open-Canary-Access-99",
            "dsn": f"postgresql://shop:{password}@db/shop",
            "fail_open": True,
        },
    )

    result = _run(_command("run", path))

    assert result.returncode == 1, result.stderr
    lines = [line for line in _lines(result) if "CRITICAL" in line]
    assert len(lines) == 1, result.stderr
    assert "test-integration: driver open() failed: ConnectionError: cannot reach" in lines[0]
    assert "postgresql://shop:***@db/shop with key ***" in lines[0]
    for secret in (api_key, password, "Open-Canary-Access-99"):
        assert secret not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("host", "code", "named"),
    [("no-such-host.invalid", 2, "metrics.host 'no-such-host.invalid'"), ("taken", 1, "is taken")],
)
def test_a_metrics_address_run_cannot_serve_is_one_line_naming_the_setting(
    host: str, code: int, named: str, connector_env: ConnectorEnv
) -> None:
    path = connector_env.config()
    config = yaml.safe_load(path.read_text())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        if host == "taken":
            config["metrics"] = {"host": "127.0.0.1", "port": taken.getsockname()[1]}
        else:
            config["metrics"] = {"host": host, "port": 0}
        path.write_text(yaml.safe_dump(config))

        result = _run(_command("run", path))

    assert result.returncode == code, result.stderr
    lines = [line for line in _lines(result) if "CRITICAL" in line]
    assert len(lines) == 1, result.stderr
    assert "cannot start: metrics." in lines[0]
    assert named in lines[0]
    assert "Traceback" not in result.stderr
