"""`KafkaMappingStore` against a real broker: restore, durability, ordering, several processes."""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    ResourceType,
)

from connector.mapping_store import (
    MAPPING_TOPIC_CONFIG,
    MAPPING_TOPIC_PARTITIONS,
    KafkaMappingStore,
    MappingRecord,
    encode_record,
)
from contracts import ConfigurationError, MappingData, TransientError

if TYPE_CHECKING:
    from tests.conftest import CreateTopics
    from tests.connector.mapping_store.conftest import MakeStore

pytestmark = pytest.mark.kafka

_PEER = Path(__file__).with_name("mapping_peer.py")


def _describe(admin: AdminClient, topic: str) -> dict[str, str]:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource], request_timeout=10)[resource].result(timeout=30)
    return {name: entry.value for name, entry in entries.items()}


def _eventually(check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.001)


# -- restore -----------------------------------------------------------------------------


def test_restart_restores_every_mapping(make_store: MakeStore, integration_uuid: str) -> None:
    first = make_store()
    first.start(timeout_s=60)
    expected: dict[tuple[str, str], MappingData] = {}
    for i, entity_type in zip(range(60), itertools.cycle(["product", "category", "family"])):
        entity_uuid = str(uuid.uuid4())
        data = {"sku": f"SKU-{i}", "tags": ["a", i]} if i % 3 == 0 else None
        first.create(entity_type, entity_uuid, integration_uuid, f"ext-{i}", data)
        expected[(entity_type, entity_uuid)] = MappingData(
            external_id=f"ext-{i}", external_data=data
        )
    first.close()

    second = make_store()
    second.start(timeout_s=60)
    assert second.count() == 60
    for (entity_type, entity_uuid), mapping in expected.items():
        assert second.find(entity_type, entity_uuid, integration_uuid) == mapping
    assert second.restore_seconds is not None
    assert second.restored_records == 60
    assert second.stats().mappings == 60


def test_delete_removes_the_mapping_also_after_a_restart(
    make_store: MakeStore, integration_uuid: str
) -> None:
    store = make_store()
    store.start(timeout_s=60)
    store.create("product", "p-1", integration_uuid, "ext-1", None)
    store.create("product", "p-2", integration_uuid, "ext-2", None)

    assert store.delete("product", "p-1", integration_uuid) is True
    assert store.find("product", "p-1", integration_uuid) is None
    assert store.delete("product", "p-1", integration_uuid) is False
    store.close()

    restarted = make_store()
    restarted.start(timeout_s=60)
    assert restarted.find("product", "p-1", integration_uuid) is None
    assert restarted.find("product", "p-2", integration_uuid) == MappingData(external_id="ext-2")
    assert restarted.count() == 1


def test_records_that_are_not_mappings_are_skipped_and_counted_at_restore(
    make_store: MakeStore, kafka_bootstrap: str, mapping_topic: str, integration_uuid: str
) -> None:
    store = make_store()
    store.ensure_topic()
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 0})
    good = encode_record(MappingRecord("ext-ok", None, 1, 1))
    for key, value in [
        (b"product:ok", good),
        (b"product:bad", b"{not avro}"),
        (b"no-type-separator", good),
        (b"product:also-ok", good),
    ]:
        producer.produce(mapping_topic, key=key, value=value)
        assert producer.flush(30) == 0  # one batch each: nothing else shares a refusal

    store.start(timeout_s=60)
    assert store.ready
    assert store.rejected_records == 2
    assert store.count() == 2
    assert store.find("product", "also-ok", integration_uuid) == MappingData(external_id="ext-ok")
    assert store.find("product", "bad", integration_uuid) is None


# -- the topic ---------------------------------------------------------------------------


def test_created_topic_has_the_declared_configuration(
    make_store: MakeStore, admin: AdminClient, mapping_topic: str
) -> None:
    store = make_store()
    store.start(timeout_s=60)
    actual = _describe(admin, mapping_topic)
    for name, declared in MAPPING_TOPIC_CONFIG.items():
        assert actual[name] == declared, name
    metadata: Any = admin.list_topics(mapping_topic, timeout=10)
    assert len(metadata.topics[mapping_topic].partitions) == MAPPING_TOPIC_PARTITIONS


@pytest.mark.parametrize("policy", ["delete", "compact,delete"])
def test_a_topic_that_is_not_only_compacted_stops_the_start_with_a_clear_error(
    make_store: MakeStore, create_topics: CreateTopics, mapping_topic: str, policy: str
) -> None:
    create_topics([mapping_topic], config={"cleanup.policy": policy})
    store = make_store()
    with pytest.raises(ConfigurationError) as refused:
        store.start(timeout_s=30)
    message = str(refused.value)
    assert mapping_topic in message
    assert f"cleanup.policy={policy}" in message
    assert "--add-config cleanup.policy=compact" in message
    assert not store.ready


def test_a_missing_topic_is_not_created_when_creation_is_off(make_store: MakeStore) -> None:
    store = make_store()
    with pytest.raises(ConfigurationError, match="does not exist"):
        store.start(timeout_s=30, create_topic=False)


# -- writes ------------------------------------------------------------------------------


def test_a_write_is_visible_to_find_at_once(make_store: MakeStore, integration_uuid: str) -> None:
    store = make_store()
    store.start(timeout_s=60)
    store.create("category", "c-1", integration_uuid, "42", {"path": "1/42"})
    assert store.find("category", "c-1", integration_uuid) == MappingData(
        external_id="42", external_data={"path": "1/42"}
    )
    store.update_external_data("category", "c-1", integration_uuid, {"path": "1/7/42"})
    assert store.find("category", "c-1", integration_uuid) == MappingData(
        external_id="42", external_data={"path": "1/7/42"}
    )
    assert store.find_many("category", ["c-1", "c-404"], integration_uuid) == {
        "c-1": MappingData(external_id="42", external_data={"path": "1/7/42"})
    }
    record = store.record("category", "c-1")
    assert record is not None
    assert record.updated_at_ms >= record.created_at_ms
    assert store.writes == 2


def test_update_of_a_missing_mapping_raises_key_error(
    make_store: MakeStore, integration_uuid: str
) -> None:
    store = make_store()
    store.start(timeout_s=60)
    with pytest.raises(KeyError, match="product:nope"):
        store.update_external_data("product", "nope", integration_uuid, {"a": 1})


def test_recreating_with_the_same_external_id_keeps_created_at(
    make_store: MakeStore, integration_uuid: str
) -> None:
    now = [1_000.0]
    store = make_store(clock=lambda: now[0])
    store.start(timeout_s=60)
    store.create("product", "p", integration_uuid, "ext", None)
    now[0] = 2_000.0
    store.create("product", "p", integration_uuid, "ext", {"v": 2})
    record = store.record("product", "p")
    assert record is not None
    assert (record.created_at_ms, record.updated_at_ms) == (1_000_000, 2_000_000)


def test_a_failed_write_raises_transient_error_and_changes_nothing(
    make_store: MakeStore,
    delete_mapping_topic: Callable[[], None],
    admin: AdminClient,
    mapping_topic: str,
    integration_uuid: str,
) -> None:
    store = make_store(write_timeout_s=1.5)
    store.start(timeout_s=60)
    store.create("product", "p-1", integration_uuid, "ext-1", None)
    # The topic disappears under the running store: no write can be acknowledged (and the
    # producer must not recreate it with the broker's defaults).
    delete_mapping_topic()

    with pytest.raises(TransientError, match=mapping_topic):
        store.create("product", "p-2", integration_uuid, "ext-2", None)
    with pytest.raises(TransientError, match=mapping_topic):
        store.create("product", "p-1", integration_uuid, "ext-1-changed", None)
    with pytest.raises(TransientError, match=mapping_topic):
        store.delete("product", "p-1", integration_uuid)

    assert store.find("product", "p-2", integration_uuid) is None
    assert store.find("product", "p-1", integration_uuid) == MappingData(external_id="ext-1")
    assert store.write_failures == 3
    metadata: Any = admin.list_topics(timeout=10)
    assert mapping_topic not in metadata.topics


def test_an_unreachable_cluster_fails_the_start_with_transient_error(
    mapping_topic: str, integration_uuid: str
) -> None:
    store = KafkaMappingStore(
        integration_uuid=integration_uuid,
        topic=mapping_topic,
        client_config={
            "bootstrap.servers": "127.0.0.1:1",
            "socket.connection.setup.timeout.ms": 1000,
        },
    )
    try:
        with pytest.raises(TransientError, match=mapping_topic):
            store.start(timeout_s=3)
        assert not store.ready
    finally:
        store.close()


def test_using_the_store_of_another_integration_raises(
    make_store: MakeStore, integration_uuid: str
) -> None:
    store = make_store()
    store.start(timeout_s=60)
    other = str(uuid.uuid4())
    with pytest.raises(ValueError, match=other):
        store.create("product", "p", other, "ext", None)
    with pytest.raises(ValueError, match=other):
        store.find("product", "p", other)
    with pytest.raises(ValueError, match=other):
        store.delete("product", "p", other)
    with pytest.raises(ValueError, match=other):
        store.find_many("product", ["p"], other)
    with pytest.raises(ValueError, match=other):
        store.update_external_data("product", "p", other, None)
    assert store.count() == 0
    assert store.writes == 0


def test_find_before_the_restore_raises_transient_error(
    make_store: MakeStore, integration_uuid: str
) -> None:
    store = make_store()
    with pytest.raises(TransientError, match="not restored yet"):
        store.find("product", "p", integration_uuid)


# -- several instances -------------------------------------------------------------------


def test_an_older_value_from_another_instance_never_replaces_a_newer_own_write(
    make_store: MakeStore, integration_uuid: str
) -> None:
    a = make_store()
    b = make_store()
    a.start(timeout_s=60)
    b.start(timeout_s=60)
    b.create("product", "p", integration_uuid, "from-b", None)  # lower offset
    a.create("product", "p", integration_uuid, "from-a", None)  # higher offset
    assert a.find("product", "p", integration_uuid) == MappingData(external_id="from-a")
    assert a.sync(timeout_s=15)
    assert b.sync(timeout_s=15)
    assert a.find("product", "p", integration_uuid) == MappingData(external_id="from-a")
    assert b.find("product", "p", integration_uuid) == MappingData(external_id="from-a")
    assert a.stats().pending_own_writes == 0


def test_sync_makes_another_instances_latest_writes_visible(
    make_store: MakeStore, integration_uuid: str
) -> None:
    a = make_store()
    b = make_store()
    a.start(timeout_s=60)
    b.start(timeout_s=60)
    for i in range(20):
        b.create("category", f"c-{i}", integration_uuid, str(i), None)
    assert a.sync(timeout_s=15)
    assert all(a.find("category", f"c-{i}", integration_uuid) for i in range(20))
    assert a.stats().tail_lag_records == 0


@dataclass
class Peer:
    """The test's handle on a `mapping_peer.py` process."""

    process: subprocess.Popen[str]
    mappings_at_start: int = field(default=0)

    def ask(self, **command: Any) -> dict[str, Any]:
        self.send(**command)
        return self.read()

    def send(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the peer process ended"
        answer: dict[str, Any] = json.loads(line)
        return answer


@pytest.fixture
def start_peer(
    kafka_bootstrap: str, mapping_topic: str, integration_uuid: str
) -> Iterator[Callable[[], Peer]]:
    processes: list[subprocess.Popen[str]] = []

    def start() -> Peer:
        process = subprocess.Popen(
            [sys.executable, str(_PEER), kafka_bootstrap, mapping_topic, integration_uuid],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        peer = Peer(process)
        peer.mappings_at_start = peer.read()["mappings"]
        return peer

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def test_two_processes_see_each_others_mappings(
    make_store: MakeStore, start_peer: Callable[[], Peer], integration_uuid: str
) -> None:
    local = make_store()
    local.start(timeout_s=60)
    peer = start_peer()
    to_peer: list[float] = []
    from_peer: list[float] = []
    for i in range(15):
        # This process writes a product; the peer (already polling) reports when it sees it.
        peer.send(op="wait", type="product", uuid=f"p-{i}", timeout=15)
        local.create("product", f"p-{i}", integration_uuid, f"ext-p-{i}", None)
        acked_at = time.time()
        seen_at = peer.read()["seen_at"]
        assert seen_at is not None, f"peer never saw product p-{i}"
        to_peer.append(seen_at - acked_at)
        # The peer writes a category; this process polls until it sees it.
        peer.send(op="create", type="category", uuid=f"c-{i}", external_id=f"ext-c-{i}")
        category = f"c-{i}"
        _eventually(lambda: local.find("category", category, integration_uuid) is not None)  # noqa: B023
        seen_here = time.time()
        from_peer.append(seen_here - peer.read()["acked_at"])
    assert peer.ask(op="find", type="product", uuid="p-0") == {"external_id": "ext-p-0"}
    assert local.find("category", "c-14", integration_uuid) == MappingData(external_id="ext-c-14")
    print(  # the figures for the report (pytest -s)
        "\nmapping propagation between processes, ms: "
        f"to peer median {statistics.median(to_peer) * 1000:.1f} max {max(to_peer) * 1000:.1f}; "
        f"from peer median {statistics.median(from_peer) * 1000:.1f} "
        f"max {max(from_peer) * 1000:.1f}"
    )


def test_a_mapping_acknowledged_before_a_process_was_killed_survives(
    make_store: MakeStore, start_peer: Callable[[], Peer], integration_uuid: str
) -> None:
    peer = start_peer()
    assert "acked_at" in peer.ask(op="create", type="product", uuid="p-1", external_id="ext-1")
    peer.process.kill()  # SIGKILL right after the acknowledgement: no close, no flush
    peer.process.wait(timeout=30)

    restored = make_store()
    restored.start(timeout_s=60)
    assert restored.find("product", "p-1", integration_uuid) == MappingData(external_id="ext-1")


# -- replay after a crash ----------------------------------------------------------------


@dataclass
class CountingDownstream:
    """A fake external system: counts creates and updates by external id."""

    creates: int = 0
    updates: list[str] = field(default_factory=list)

    def create(self, payload: dict[str, Any]) -> str:
        self.creates += 1
        return f"ext-{self.creates}"

    def update(self, external_id: str, payload: dict[str, Any]) -> None:
        self.updates.append(external_id)


def _handle(
    store: KafkaMappingStore, downstream: CountingDownstream, integration: str, entity: str
) -> None:
    """A driver's create-or-update decision, as the seed describes it."""
    mapping = store.find("product", entity, integration)
    if mapping is None:
        external_id = downstream.create({"uuid": entity})
        store.create("product", entity, integration, external_id, {"sku": entity})
    else:
        downstream.update(mapping.external_id, {"uuid": entity})


def test_a_crash_between_external_create_and_offset_commit_leads_to_exactly_one_create(
    make_store: MakeStore, integration_uuid: str
) -> None:
    downstream = CountingDownstream()
    first = make_store()
    first.start(timeout_s=60)
    _handle(first, downstream, integration_uuid, "p-1")
    first.close()  # the "crash": the mutation's offset was never committed

    replay = make_store()
    replay.start(timeout_s=60)
    _handle(replay, downstream, integration_uuid, "p-1")  # the same mutation again

    assert downstream.creates == 1
    assert downstream.updates == ["ext-1"]
