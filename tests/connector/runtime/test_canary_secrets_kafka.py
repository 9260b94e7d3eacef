"""Canary secrets through every output of a real run: logs (text and JSON), stderr, dead-letter
headers, the CLI, /metrics and the health endpoints.

A careless driver (tests/support/leaky_driver.py) pushes its secrets out every way it can;
the connector runs as a process against the real broker. No canary, in any encoding the
docs say is covered, may appear anywhere; what the driver leaked must still be there,
masked (the paths are taken, not skipped).
"""

from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Literal
from urllib.parse import quote, quote_plus

import pytest
import yaml
from cli_process import run_cli
from connector_env import ConnectorEnv, product_mutations

pytestmark = pytest.mark.kafka

SUPPORT = Path(__file__).resolve().parents[2] / "support"
API_KEY = "Cnry/Api+Key=7781 x"  # quote() keeps its '/', encodes the rest
ACCESS_KEY = "Cnry-äccess-€-2291"  # non-ASCII: its UTF-8 bytes repr differs from the text
PG_PASSWORD = "Cnry-Pg-pass-5521"  # only inside the DSN, under an ordinary key
DSN = f"postgresql://shop:{PG_PASSWORD}@db.internal:5432/shop"
PROXY_PASSWORD = "Cnry@proxy-8832"  # an unencoded '@': URL parsers split at the last one
PROXY_URL = f"https://relay:{PROXY_PASSWORD}@proxy.internal:3128/"
SHORT_TOKEN = "000"  # too short to redact: warned about, and uuids/offsets stay whole
MASK = "***"
RAW_LIBRDKAFKA_LINE = re.compile(r"^%\d\|\d+\.\d+\|", re.MULTILINE)


def forms(secret: str) -> set[str]:
    """The secret as written and in every encoding the redactor promises to cover (the
    leaky driver emits each of them: `leaky_driver.encoded`)."""
    basic = base64.b64encode(f"shop:{secret}".encode()).decode()
    return {
        secret,
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
        repr(secret.encode())[2:-1],
        json.dumps(secret)[1:-1],
        basic[8:-4],  # the middle of a Basic credential; its edges may stay
    }


SECRETS = (API_KEY, ACCESS_KEY, PG_PASSWORD, PROXY_PASSWORD)
CANARIES = {form for secret in SECRETS for form in forms(secret)}


def leaked(text: str) -> set[str]:
    return {form for form in CANARIES if form in text}


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())
    except urllib.error.HTTPError as exc:  # 503 from /readyz is an answer too
        return str(exc.read().decode())


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_canary_secret_reaches_any_output(
    connector_env: ConnectorEnv, tmp_path: Path, log_format: Literal["text", "json"]
) -> None:
    env = connector_env
    env.create_mutation_topics(["product"], partitions=1)
    mutations = product_mutations(3, 1)
    env.publish(mutations)
    config_path = env.config(
        driver="leaky",
        driver_config={
            "base_url": "https://shop.test/api",
            "api_key": API_KEY,
            "access_key": ACCESS_KEY,
            "dsn": DSN,
            "proxy_url": PROXY_URL,
            "short_token": SHORT_TOKEN,
        },
        batch={"max_records": 1, "linger_ms": 0},
        # librdkafka's debug lines: through each client's logger (filtered at INFO), or raw
        # on stderr for a client built without one
        kafka={"extra": {"debug": "broker,topic,msg"}},
    )
    config = yaml.safe_load(config_path.read_text())
    config["runtime"]["log_format"] = log_format
    config_path.write_text(yaml.safe_dump(config))
    log_path = tmp_path / "connector.log"

    # 1. run until every mutation is dead-lettered; read the endpoints meanwhile
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(SUPPORT / "connector_process.py"), str(config_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            dead_letter_topic = env.topics.dead_letter_topic(env.integration_uuid)
            port = _wait_for_port(log_path, process)
            deadline = time.monotonic() + 90
            while env.topic_records(dead_letter_topic) < len(mutations):
                assert time.monotonic() < deadline, log_path.read_text(errors="replace")
                time.sleep(0.3)
            endpoints = {
                path: _get(f"http://127.0.0.1:{port}{path}")
                for path in ("/metrics", "/healthz", "/readyz")
            }
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(60)
    output = log_path.read_text(errors="replace")
    assert code == 0, output

    # 2. what the operator reads afterwards
    given = ["--config", str(config_path), "--integration", "test-integration"]
    listed = run_cli("dead-letters", "list", *given)
    shown = run_cli("dead-letters", "show", "0", *given)
    shown_json = run_cli("dead-letters", "show", "0", *given, "--output", "json")
    replayed = run_cli("dead-letters", "replay", "--dry-run", *given)
    assert listed.returncode == 0, listed.stderr
    assert shown.returncode == 0, shown.stderr
    assert shown_json.returncode == 0, shown_json.stderr
    assert replayed.returncode == 0, replayed.stderr
    letters = env.read(dead_letter_topic)
    per_letter = [_headers(msg.headers()) for msg in letters]
    headers = {name: value for letter in per_letter for name, value in letter.items()}

    # 3. nothing leaked, anywhere
    everything = {
        "process output": output,
        "dead-letters list": listed.stdout + listed.stderr,
        "dead-letters show": shown.stdout + shown.stderr,
        "dead-letters show --output json": shown_json.stdout + shown_json.stderr,
        "dead-letters replay --dry-run": replayed.stdout + replayed.stderr,
        "dead-letter headers": json.dumps(headers, ensure_ascii=False),
        **endpoints,
    }
    for where, text in everything.items():
        assert not leaked(text), f"{where} leaks {leaked(text)}"
    assert not RAW_LIBRDKAFKA_LINE.search(output), "a client logs around the redacting path"

    # 4. the leaks were there, masked: every path was taken
    message = headers["iec.dlt.exception.message"]
    assert message.startswith("refused: url https://shop.test/api?key=*** body b'***'")
    assert "Authorization: Basic " in message
    assert "dsn postgresql://shop:***@db.internal:5432/shop" in message
    assert "proxy https://relay:***@proxy.internal:3128/" in message
    # every form of every secret was emitted (leaky_driver.encoded) and masked
    emitted = message.split(" forms: ", 1)[1]
    assert emitted.count("quote-all=***") == len(SECRETS)
    assert emitted.count('json="***"') == len(SECRETS)
    assert emitted.count("basic=Basic ") == len(SECRETS)
    assert emitted.count(MASK) >= 6 * len(SECRETS)
    assert "api_key=***" in headers["iec.dlt.exception.stacktrace"]  # the cause
    uuids = sorted(letter["iec.dlt.entity.uuid"] for letter in per_letter)
    assert uuids == sorted(m.entity_uuid for m in mutations)  # "000" rewrote nothing
    assert "integrations[0].config.short_token" in output  # the short secret is warned about
    assert "3 of 3" in listed.stdout
    assert "key=***" in listed.stdout
    assert "Authorization: Basic" in shown.stdout
    if log_format == "json":
        records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert len(records) == len(output.strip().splitlines()), "a line that is not JSON"
        calling = next(r for r in records if r["message"].startswith("calling"))
        assert calling["auth"]["api_key"] == "***"
        assert calling["auth"]["dsn"] == "postgresql://shop:***@db.internal:5432/shop"
        reauth = next(r for r in records if r["message"] == "re-authenticating")
        assert "RuntimeError: session for *** expired" in reauth["exception"]
        loggers = {r["logger"] for r in records}
        assert {"py.warnings", "iec.thread"} <= loggers
    else:
        assert "py.warnings" in output
        assert "uncaught exception in thread leaky-refresh" in output
        assert "OSError: token refresh failed for ***" in output


def _headers(raw: object) -> dict[str, str]:
    assert isinstance(raw, list)
    return {str(name): bytes(value or b"").decode() for name, value in raw}


def _wait_for_port(log_path: Path, process: subprocess.Popen[bytes]) -> int:
    pattern = re.compile(r"metrics and health on [^:\s]+:(\d+)")
    deadline = time.monotonic() + 60
    while True:
        found = pattern.search(log_path.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        assert process.poll() is None, log_path.read_text(errors="replace")
        assert time.monotonic() < deadline, "the connector never served its endpoints"
        time.sleep(0.2)
