"""The webhook driver in the runtime, through the real broker, to a real receiver."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from connector_env import ConnectorEnv, headers_of, make_env, product_mutations, run_until
from standard_webhooks_receiver import CannedAnswer, new_secret, running_receiver

from connector.config import load_and_validate
from connector.driver_registry import DriverRegistry
from connector.runtime.app import EXIT_OK, ConnectorApp
from contracts import MutationData, Operation
from drivers.webhook import WebhookDriver

pytestmark = pytest.mark.kafka

DRIVERS = DriverRegistry.from_classes({"webhook": WebhookDriver})
SECRET = new_secret()
HEADER_TOKEN = "Bearer runtime-token-5d1f0b77"


@pytest.fixture
def env(
    kafka_bootstrap: str, tmp_path: Path, create_topics: Callable[..., list[str]]
) -> ConnectorEnv:
    return make_env(kafka_bootstrap, tmp_path, create_topics)


async def test_the_receiver_ends_with_the_catalogue_and_a_refused_record_is_dead_lettered(
    env: ConnectorEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    mutations = product_mutations(30, 3)
    poison = MutationData(
        entity_type="product", entity_uuid="product-poison", operation=Operation.CREATED,
        payload={"sku": "POISON"}, version=1,
    )  # fmt: skip
    env.create_mutation_topics(["product"])
    env.publish([*mutations, poison])
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("TEST_WEBHOOK_TOKEN", HEADER_TOKEN)
    with running_receiver(SECRET) as receiver:
        echo = f"invalid product; your headers said {HEADER_TOKEN}".encode()
        receiver.refuse["product-poison"] = CannedAnswer(422, body=echo)
        receiver.script(CannedAnswer(503), CannedAnswer(503))  # a short outage first
        path = env.config(
            driver="webhook",
            driver_config={
                "url": receiver.url,
                "secrets": ["${TEST_WEBHOOK_SECRET}"],
                "headers": {"Authorization": "${TEST_WEBHOOK_TOKEN}"},
                "external_id_pointer": "/id",
                "timeout_s": 5,
            },
            batch={"max_records": 20, "linger_ms": 20},
            retry={"max_attempts": 5, "initial_backoff_ms": 50, "max_backoff_ms": 200},
        )
        settings, configs = load_and_validate(path, DRIVERS)
        app = ConnectorApp(settings, DRIVERS, configs, install_signal_handlers=False)
        dead_letters = env.topics.dead_letter_topic(env.integration_uuid)
        expected = {m.entity_uuid: dict(m.payload) for m in mutations}

        code = await run_until(
            app,
            lambda: receiver.snapshot() == expected and env.topic_records(dead_letters) == 1,
        )

        assert code == EXIT_OK
        assert all(d.verified for d in receiver.deliveries)
        # At least once: a retried batch re-sends what was delivered, with the same ids. What
        # a receiver that drops repeated ids sees is each entity's versions in order.
        versions: dict[str, list[int]] = {}
        seen_ids: set[str] = set()
        for delivered in receiver.verified_messages():
            if delivered["id"] in seen_ids:
                continue
            seen_ids.add(delivered["id"])
            data = delivered["data"]
            versions.setdefault(data["entity_uuid"], []).append(data["version"])
        assert versions == {m.entity_uuid: [1, 2, 3] for m in mutations} | {poison.entity_uuid: [1]}
    (record,) = await asyncio.to_thread(env.read, dead_letters)
    headers = dict(headers_of(record))
    assert record.key() == b"product-poison"
    assert headers["iec.dlt.error.kind"] == b"permanent"
    message = headers["iec.dlt.exception.message"].decode()
    assert "HTTP 422" in message
    assert "invalid product" in message
    every_header = b" ".join(v for _, v in headers_of(record))
    assert HEADER_TOKEN.split()[1].encode() not in every_header
    assert SECRET.encode() not in every_header
