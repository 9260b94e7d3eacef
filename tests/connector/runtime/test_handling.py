"""WorkHandler + KeyScheduler without Kafka: fake drivers, a list as the dead-letter topic,
and a fake clock that jumps to the next backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest
from prometheus_client import CollectorRegistry

from connector.codec.errors import CodecError
from connector.config.policies import RetrySettings
from connector.dead_letters.headers import DeadLetterContext, Header, Headers, header_value
from connector.kafka.records import ConsumedRecord
from connector.metrics import ConnectorMetrics
from connector.redaction import Redactor
from connector.runtime.decoding import RecordDecoder
from connector.runtime.handling import WorkHandler
from connector.runtime.invocation import DriverInvoker
from connector.runtime.runner import ordering_key
from connector.runtime.scheduling import KeyScheduler
from contracts import (
    AbstractDriver,
    ConfigurationError,
    DependencyNotReadyError,
    FatalError,
    MutationData,
    PartialBatchError,
    PermanentError,
    TransientError,
)

UUID = "8b0c5a1e-7d2f-4c3b-9a1e-2f3d4c5b6a7e"


class Driver(AbstractDriver):
    def get_name(self) -> str:
        return "Fake"

    def get_type(self) -> str:
        return "fake"

    def get_version(self) -> str:
        return "1.0.0"

    def get_configuration_schema(self) -> dict[str, str]:
        return {}


class BatchDriver(Driver):
    """Calls `behaviour(batch uuids)` per batch and records the successful calls."""

    def __init__(self, behaviour: Callable[[list[str]], None]) -> None:
        super().__init__()
        self.behaviour = behaviour
        self.calls: list[list[str]] = []
        self.handled: list[str] = []

    def handle(self, mutation: MutationData) -> None:
        raise AssertionError("handle_batch is overridden")

    def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        uuids = [f"{m.entity_uuid}@{m.version}" for m in mutations]
        self.calls.append(uuids)
        self.behaviour(uuids)
        self.handled.extend(uuids)


class OneByOneDriver(Driver):
    """Implements only `handle` (async): the runtime calls it per record."""

    def __init__(self, failures: dict[str, int]) -> None:
        super().__init__()
        self.failures = dict(failures)
        self.handled: list[str] = []

    async def handle(self, mutation: MutationData) -> None:
        name = f"{mutation.entity_uuid}@{mutation.version}"
        left = self.failures.get(mutation.entity_uuid, 0)
        if left:
            self.failures[mutation.entity_uuid] = left - 1
            raise DependencyNotReadyError(f"{name} waits for its category")
        self.handled.append(name)


class ListSink:
    def __init__(self) -> None:
        self.records: list[tuple[ConsumedRecord, Headers]] = []

    async def write(
        self, items: Sequence[tuple[ConsumedRecord, Headers]]
    ) -> Sequence[Exception | None]:
        self.records.extend(items)
        return [None] * len(items)

    def header(self, name: str) -> list[str | None]:
        return [header_value(headers, name) for _, headers in self.records]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(uuid: str, offset: int, version: int = 1) -> ConsumedRecord:
    return ConsumedRecord(
        topic="t.product",
        partition=0,
        offset=offset,
        key=uuid.encode(),
        value=b"v",
        headers=None,
        timestamp_ms=0,
        entity_type="product",
        mutation=MutationData(
            entity_type="product", entity_uuid=uuid, operation="created", version=version
        ),
    )


class Rig:
    """A scheduler and a handler, driven like the runtime's dispatcher (works concurrently)."""

    def __init__(
        self,
        driver: Driver,
        retry: RetrySettings,
        *,
        decode: Callable[[bytes], MutationData] | None = None,
    ) -> None:
        self.clock = Clock()
        self.sink = ListSink()
        self.metrics = ConnectorMetrics(CollectorRegistry())
        self.invoker = DriverInvoker(
            driver, integration_uuid=UUID, handle_timeout_s=5, threads=4, metrics=self.metrics
        )
        key_of = ordering_key("key")
        self.scheduler = KeyScheduler(
            max_records=50,
            max_bytes=1_000_000,
            linger_s=0.0,
            key_of=key_of,
            one_key_per_work=self.invoker.per_record,
        )
        self.handler = WorkHandler(
            invoker=self.invoker,
            integration_uuid=UUID,
            retry=retry,
            dead_letters=self.sink,
            dead_letter_context=DeadLetterContext(UUID, "n", "g", "fake", "1.0.0"),
            redactor=Redactor(),
            decoder=RecordDecoder(decode) if decode is not None else None,
            key_of=key_of,
            metrics=self.metrics,
            clock=self.clock,
        )
        self.finished: list[ConsumedRecord] = []
        self.rounds: list[list[list[int]]] = []

    async def run(self, records: Sequence[ConsumedRecord], *, max_rounds: int = 100) -> None:
        for r in records:
            self.scheduler.add(r, self.clock.now)
        for _ in range(max_rounds):
            works = []
            while (work := self.scheduler.take(self.clock.now)) is not None:
                works.append(work)
            if works:
                self.rounds.append([[r.offset for r in w.records] for w in works])
                results = await asyncio.gather(*(self.handler.run(w) for w in works))
                for work, result in zip(works, results, strict=True):
                    self.finished.extend(result.finished)
                    self.scheduler.complete(work, result.retries, now=self.clock.now)
                continue
            deadline = self.scheduler.next_deadline()
            if deadline is None:
                self.invoker.close()
                return
            self.clock.now = max(self.clock.now, deadline)
        raise AssertionError("did not settle")

    def errors(self, stage: str, kind: str) -> float:
        total = 0.0
        for family in self.metrics.errors.collect():
            for sample in family.samples:
                labels = sample.labels
                if labels.get("stage") == stage and labels.get("kind") == kind:
                    total += sample.value if sample.name.endswith("_total") else 0
        return total


NO_WAIT = RetrySettings(max_attempts=3, initial_backoff_ms=10, max_backoff_ms=10, jitter=0)


async def test_after_an_outage_outlasts_the_retries_isolation_tries_each_part_once() -> None:
    def down(_: list[str]) -> None:
        raise TransientError("downstream unavailable")

    driver = BatchDriver(down)
    rig = Rig(driver, NO_WAIT)
    await rig.run([record(f"p-{i}", i) for i in range(8)])
    assert len(rig.sink.records) == 8
    assert set(rig.sink.header(Header.ATTEMPTS)) == {"3"}
    assert set(rig.sink.header(Header.ERROR_KIND)) == {"transient"}
    # 1 + 1 whole tries, the group split in two (2 calls), then isolation of each half, one
    # call per node of its bisection tree (2 x (2*4 - 1)): not a retry budget for each
    assert len(driver.calls) <= 2 + 2 + 2 * 7
    assert rig.errors("handle", "transient") >= 1


async def test_a_failing_key_blocks_only_itself_and_its_later_records_wait_behind_it() -> None:
    driver = OneByOneDriver({"cat-child": 3})
    rig = Rig(driver, RetrySettings(max_attempts=10, initial_backoff_ms=100, jitter=0))
    records = [record("cat-child", 0, 1), record("a", 1), record("cat-child", 2, 2), record("b", 3)]
    await rig.run(records)
    assert rig.sink.records == []
    # the others went first, without waiting for the failing key's backoff
    assert driver.handled[:2] == ["a@1", "b@1"]
    assert driver.handled[2:] == ["cat-child@1", "cat-child@2"]
    assert sorted(r.offset for r in rig.finished) == [0, 1, 2, 3]
    assert rig.clock.now >= 100.0 + 0.1 + 0.2 + 0.4  # three backoffs


async def test_a_key_that_keeps_failing_is_split_off_and_its_neighbours_get_through() -> None:
    def bad_k3(uuids: list[str]) -> None:
        if "k3@1" in uuids:
            raise TransientError("k3 upsets the downstream")

    driver = BatchDriver(bad_k3)
    rig = Rig(driver, RetrySettings(max_attempts=8, initial_backoff_ms=10, jitter=0))
    await rig.run([record(f"k{i}", i) for i in range(8)])
    # only k3 is dead-lettered, after its retries; all others were handled before that
    assert [r.key for r, _ in rig.sink.records] == [b"k3"]
    assert sorted(driver.handled) == sorted(f"k{i}@1" for i in range(8) if i != 3)
    assert rig.sink.header(Header.ATTEMPTS) == ["8"]


async def test_partial_batch_retries_the_transient_records_after_the_others() -> None:
    attempts = {"n": 0}

    def product_waits_once(uuids: list[str]) -> None:
        if "p2@1" in uuids and attempts["n"] == 0:
            attempts["n"] += 1
            index = uuids.index("p2@1")
            raise PartialBatchError({index: DependencyNotReadyError("category not mapped yet")})

    driver = BatchDriver(product_waits_once)
    rig = Rig(driver, NO_WAIT)
    records = [record("p1", 0), record("p2", 1), record("p3", 2), record("p2", 3, 2)]
    await rig.run(records)
    assert rig.sink.records == []
    # p2@1 and its later p2@2 went again, after the others
    assert driver.calls[-1] == ["p2@1", "p2@2"]
    assert sorted(r.offset for r in rig.finished) == [0, 1, 2, 3]


async def test_a_decode_that_waits_for_the_registry_keeps_its_attempts_when_dead_lettered() -> None:
    def registry_down(_: bytes) -> MutationData:
        from connector.codec.errors import SchemaRegistryUnavailableError

        raise SchemaRegistryUnavailableError("the schema registry could not answer")

    driver = BatchDriver(lambda _: None)
    rig = Rig(driver, NO_WAIT, decode=registry_down)
    pending = ConsumedRecord(
        topic="t.product",
        partition=0,
        offset=0,
        key=b"p1",
        value=b"\x00\x00\x00\x00\x07body",
        headers=None,
        timestamp_ms=0,
        entity_type="product",
    )
    await rig.run([pending])
    assert rig.sink.header(Header.STAGE) == ["decode"]
    assert rig.sink.header(Header.ERROR_KIND) == ["transient"]
    assert rig.sink.header(Header.ATTEMPTS) == ["3"]
    assert rig.errors("decode", "transient") == 1
    assert rig.errors("decode", "permanent") == 0
    assert driver.calls == []


async def test_a_permanent_decode_failure_is_dead_lettered_at_once() -> None:
    def garbage(_: bytes) -> MutationData:
        raise CodecError("avro", "the Avro body does not decode")

    rig = Rig(BatchDriver(lambda _: None), NO_WAIT, decode=garbage)
    bad = ConsumedRecord("t.product", 0, 0, b"k", b"\x17", None, 0, entity_type="product")
    await rig.run([bad, record("good", 1)])
    assert rig.sink.header(Header.STAGE) == ["decode"]
    assert rig.sink.header(Header.ATTEMPTS) == ["0"]
    assert sorted(r.offset for r in rig.finished) == [0, 1]


async def test_a_fatal_error_stops_the_work_and_finishes_nothing() -> None:
    def broken(_: list[str]) -> None:
        raise NotImplementedError("handle_batch")

    rig = Rig(BatchDriver(broken), NO_WAIT)
    with pytest.raises(FatalError):
        await rig.run([record("a", 0)])
    assert rig.finished == []


async def test_a_dead_letter_topic_that_refuses_us_for_good_stops_the_integration() -> None:
    class RefusingSink(ListSink):
        async def write(
            self, items: Sequence[tuple[ConsumedRecord, Headers]]
        ) -> Sequence[Exception | None]:
            return [ConfigurationError("TOPIC_AUTHORIZATION_FAILED: not allowed to write")] * len(
                items
            )

    def poison(_: list[str]) -> None:
        raise PermanentError("rejected")

    rig = Rig(BatchDriver(poison), NO_WAIT)
    rig.handler._dead_letters = RefusingSink()
    with pytest.raises(FatalError, match="dead letters cannot be written"):
        await rig.run([record("a", 0)])
    assert rig.finished == []  # nothing finished: nothing committed without its dead letter


async def test_a_works_dead_letters_go_together_and_only_the_refused_are_written_again() -> None:
    class FlakySink(ListSink):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[list[int]] = []

        async def write(
            self, items: Sequence[tuple[ConsumedRecord, Headers]]
        ) -> Sequence[Exception | None]:
            self.calls.append([r.offset for r, _ in items])
            if len(self.calls) == 1:  # the broker took the first and refused the others
                await super().write(items[:1])
                refused = TransientError("dead-letter write failed: MSG_SIZE_TOO_LARGE")
                return [None, *[refused] * (len(items) - 1)]
            return await super().write(items)

    def poison(_: list[str]) -> None:
        raise PermanentError("rejected")

    rig = Rig(BatchDriver(poison), NO_WAIT)
    sink = FlakySink()
    rig.handler._dead_letters = sink
    await rig.run([record("a", 0), record("b", 1), record("c", 2)])
    first = sink.calls[0]
    assert sorted(first) == [0, 1, 2]  # one wait for all three
    assert sink.calls[1:] == [first[1:]]  # only the refused ones again
    assert sorted(r.offset for r, _ in sink.records) == [0, 1, 2]  # each exactly once
    assert sorted(r.offset for r in rig.finished) == [0, 1, 2]
