"""BatchHandler without Kafka: a fake driver behind it, a list as the dead-letter topic."""

from __future__ import annotations

from collections.abc import Sequence

from connector.config.policies import RetrySettings
from connector.dead_letters.headers import DeadLetterContext, Headers
from connector.kafka.records import ConsumedRecord
from connector.redaction import Redactor
from connector.runtime.handling import BatchHandler
from contracts import AbstractDriver, MutationData, TransientError


class DownDriver(AbstractDriver):
    """The downstream is down for good: every call fails transiently."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def get_name(self) -> str:
        return "Down"

    def get_type(self) -> str:
        return "down"

    def get_version(self) -> str:
        return "1.0.0"

    def get_configuration_schema(self) -> dict[str, str]:
        return {}

    def handle(self, mutation: MutationData) -> None:
        raise AssertionError("handle_batch is overridden")

    def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        self.calls += 1
        raise TransientError("downstream unavailable")


class ListSink:
    def __init__(self) -> None:
        self.records: list[tuple[ConsumedRecord, Headers]] = []

    async def send(self, record: ConsumedRecord, headers: Headers) -> None:
        self.records.append((record, headers))


def _records(n: int) -> list[ConsumedRecord]:
    return [
        ConsumedRecord(
            topic="t.product",
            partition=0,
            offset=i,
            key=f"p-{i}".encode(),
            value=b"v",
            headers=None,
            timestamp_ms=0,
            entity_type="product",
            mutation=MutationData(entity_type="product", entity_uuid=f"p-{i}", operation="created"),
        )
        for i in range(n)
    ]


async def test_after_an_outage_outlasts_the_retries_isolation_tries_each_part_once() -> None:
    driver = DownDriver()
    sink = ListSink()
    handler = BatchHandler(
        driver=driver,
        integration_uuid="8b0c5a1e-7d2f-4c3b-9a1e-2f3d4c5b6a7e",
        handle_timeout_s=5,
        retry=RetrySettings(max_attempts=3, initial_backoff_ms=0, max_backoff_ms=0, jitter=0),
        dead_letters=sink,
        dead_letter_context=DeadLetterContext("u", "n", "g", "down", "1.0.0"),
        redactor=Redactor(),
    )
    try:
        await handler.handle("product", _records(8))
    finally:
        handler.close()
    assert len(sink.records) == 8
    # 3 attempts of the whole batch, then at most one call per node of the bisection tree
    # (2n - 1 = 15), not a full retry budget for each of them (3 x 15)
    assert driver.calls <= 3 + 15
