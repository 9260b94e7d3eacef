"""contracts.testing: the in-memory mapping service, factories, harness, checks and suite."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from contracts import (
    AbstractDriver,
    ConfigurationSchema,
    EntityMappingService,
    FatalError,
    MappingData,
    MappingServiceExtensions,
    MutationData,
    Operation,
    PermanentError,
    current_deadline,
)
from contracts.configuration import RuleSchemaError
from contracts.testing import (
    DriverHarness,
    InMemoryMappingService,
    MappingKey,
    MutationFactory,
    ahandle_batch,
    checks,
    empty_payload,
    large_payload,
    lifecycle,
    make_context,
    make_mutation,
    mixed_batch,
    run_handle_batch,
    sample_payload,
    unicode_payload,
)
from contracts.testing.checks import ContractViolationError
from contracts.testing.suite import DriverContractSuite

I1, I2 = "integration-1", "integration-2"


# -- InMemoryMappingService ----------------------------------------------------------------


def test_in_memory_service_implements_both_mapping_interfaces() -> None:
    service = InMemoryMappingService()
    assert isinstance(service, EntityMappingService)
    assert isinstance(service, MappingServiceExtensions)


def test_create_find_update_delete_round_trip() -> None:
    service = InMemoryMappingService()
    assert service.find("product", "u1", I1) is None
    service.create("product", "u1", I1, "ext-1", {"sku": "A"})
    assert service.find("product", "u1", I1) == MappingData(
        external_id="ext-1", external_data={"sku": "A"}
    )
    service.update_external_data("product", "u1", I1, {"sku": "B"})
    assert service.find("product", "u1", I1) == MappingData(
        external_id="ext-1", external_data={"sku": "B"}
    )
    assert service.delete("product", "u1", I1) is True
    assert service.delete("product", "u1", I1) is False
    assert service.find("product", "u1", I1) is None
    assert (service.creates, service.updates, service.deletes, service.finds) == (1, 1, 2, 4)


def test_mappings_are_scoped_by_integration_and_entity_type() -> None:
    service = InMemoryMappingService()
    service.create("product", "u1", I1, "p-1", None)
    service.create("category", "u1", I1, "c-1", None)
    service.create("product", "u1", I2, "p-2", None)
    assert service.find("product", "u1", I2) == MappingData(external_id="p-2")
    assert service.count() == 3
    assert service.count(I1) == 2
    assert service.count(I1, "product") == 1
    assert set(service.snapshot(I2)) == {MappingKey(I2, "product", "u1")}


def test_a_service_for_one_integration_rejects_calls_for_another() -> None:
    service = InMemoryMappingService(integration_uuid=I1)
    with pytest.raises(ValueError, match="integration-2"):
        service.find("product", "u1", I2)


def test_find_many_returns_only_existing_mappings() -> None:
    service = InMemoryMappingService()
    service.create("product", "u1", I1, "e1", None)
    service.create("product", "u3", I1, "e3", None)
    found = service.find_many("product", ["u1", "u2", "u3"], I1)
    assert {k: v.external_id for k, v in found.items()} == {"u1": "e1", "u3": "e3"}


def test_external_data_is_copied_and_read_only() -> None:
    service = InMemoryMappingService()
    data = {"ids": [1, 2]}
    service.create("product", "u1", I1, "e1", data)
    data["ids"].append(3)
    mapping = service.find("product", "u1", I1)
    assert mapping is not None
    assert mapping.external_data == {"ids": [1, 2]}
    with pytest.raises(TypeError):
        mapping.external_data["ids"].append(4)


def test_snapshots_are_copies_that_compare_by_value() -> None:
    service = InMemoryMappingService()
    service.create("product", "u1", I1, "e1", {"v": 1})
    before = service.snapshot()
    service.create("product", "u1", I1, "e1", {"v": 1})
    assert service.snapshot() == before
    service.create("product", "u2", I1, "e2", None)
    assert service.snapshot() != before
    assert len(before) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.create("product", "", I1, "e", None),
        lambda s: s.create("product", "u", I1, 42, None),
        lambda s: s.create("product", "u", I1, "e", ["not", "a", "mapping"]),
        lambda s: s.find("product", None, I1),
    ],
)
def test_bad_arguments_are_type_errors(call: Any) -> None:
    with pytest.raises(TypeError):
        call(InMemoryMappingService())


def test_update_of_a_missing_mapping_is_a_key_error_and_counters_reset() -> None:
    service = InMemoryMappingService()
    with pytest.raises(KeyError):
        service.update_external_data("product", "u1", I1, {})
    service.create("product", "u1", I1, "e1", None)
    service.reset_counters()
    assert (service.creates, service.count()) == (0, 1)
    service.clear()
    assert service.count() == 0


# -- factories -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity_type", "key_field"),
    [
        ("product", "sku"),
        ("category", "code"),
        ("attribute", "code"),
        ("family", "code"),
        ("brand", "code"),
    ],
)
def test_sample_payloads_are_realistic_json_per_type(entity_type: str, key_field: str) -> None:
    payload = sample_payload(entity_type, "7")
    assert key_field in payload
    assert json.loads(json.dumps(payload)) == payload


def test_make_mutation_defaults_to_a_created_mutation_with_a_realistic_payload() -> None:
    m = make_mutation("category")
    assert (m.entity_type, m.operation) == ("category", Operation.CREATED)
    assert m.payload["code"].startswith("shirts_")
    assert "labels.en_US" in m.changed_fields
    assert uuid.UUID(m.entity_uuid).version == 4
    assert m.event_id
    assert m.occurred_at is not None


def test_make_mutation_takes_explicit_fields() -> None:
    m = make_mutation("product", "deleted", entity_uuid="u-1", version=4, event_id="e")
    assert (m.operation, m.entity_uuid, m.version, m.event_id, m.payload) == (
        "deleted",
        "u-1",
        4,
        "e",
        {},
    )


def test_lifecycle_is_created_updated_deleted_of_one_entity() -> None:
    created, updated, deleted = lifecycle("attribute")
    assert [m.operation for m in (created, updated, deleted)] == ["created", "updated", "deleted"]
    assert len({m.entity_uuid for m in (created, updated, deleted)}) == 1
    assert [m.version for m in (created, updated, deleted)] == [1, 2, 3]
    (field,) = updated.changed_fields
    assert updated.payload[field] != created.payload[field]
    assert deleted.payload == {}


def test_factories_are_deterministic_per_seed() -> None:
    first, second, other = MutationFactory(seed=1), MutationFactory(seed=1), MutationFactory(seed=2)
    assert first.lifecycle("family") == second.lifecycle("family")
    assert first.uuid() != other.uuid()


def test_mixed_batch_has_one_type_and_every_operation() -> None:
    batch = mixed_batch("family")
    assert {m.entity_type for m in batch} == {"family"}
    assert {m.operation for m in batch} == set(Operation)
    created = {m.entity_uuid for m in batch if m.operation == "created"}
    deleted = [m.entity_uuid for m in batch if m.operation == "deleted"]
    assert any(u in created for u in deleted)
    assert any(u not in created for u in deleted)


def test_edge_payloads() -> None:
    assert empty_payload() == {}
    assert empty_payload() is not empty_payload()
    text = orjson.dumps(unicode_payload("product"))
    assert max(text.decode()) > "\uffff"  # astral-plane characters included
    assert orjson.loads(text) == unicode_payload("product")
    assert len(orjson.dumps(large_payload(1_048_576))) >= 1_048_576
    assert len(orjson.dumps(large_payload(10_000, "family"))) >= 10_000


# -- harness -------------------------------------------------------------------------------


class RecordingDriver(AbstractDriver):
    """Keeps the mapping of every created entity; records calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def get_name(self) -> str:
        return "Recording"

    def get_type(self) -> str:
        return "recording"

    def get_version(self) -> str:
        return "2.1.0-rc.1+build.5"

    def get_configuration_schema(self) -> ConfigurationSchema:
        return {"endpoint": "required|url", "token": "required|string"}

    def handle(self, mutation: MutationData) -> None:
        self.calls.append(mutation.operation.value)
        if mutation.operation is Operation.DELETED:
            service = self.mapping_service
            assert isinstance(service, MappingServiceExtensions)
            service.delete(mutation.entity_type, mutation.entity_uuid, self.integration_uuid)
        elif (
            self.mapping_service.find(
                mutation.entity_type, mutation.entity_uuid, self.integration_uuid
            )
            is None
        ):
            self.mapping_service.create(
                mutation.entity_type,
                mutation.entity_uuid,
                self.integration_uuid,
                f"x-{mutation.entity_uuid}",
                None,
            )


CONFIG = {"endpoint": "https://api.test", "token": "t0ken-value"}


class AsyncLoopBoundDriver(RecordingDriver):
    """Async, with state bound to the event loop of open() (like an httpx.AsyncClient)."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    async def open(self) -> None:
        self.loop = asyncio.get_running_loop()

    async def close(self) -> None:
        self.closed = True

    async def handle(self, mutation: MutationData) -> None:  # type: ignore[override]
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError("called on another event loop than open()")
        await asyncio.sleep(0)
        RecordingDriver.handle(self, mutation)


def test_harness_binds_the_driver_like_the_runtime() -> None:
    driver = RecordingDriver()
    service = InMemoryMappingService()
    with DriverHarness(driver, config=CONFIG, mapping_service=service) as harness:
        assert driver.mapping_service is service
        assert driver.context is harness.context
        assert driver.integration_data["uuid"] == harness.context.integration_uuid
        assert driver.integration_data["type"] == "recording"
        assert driver.integration_data["config"]["endpoint"] == "https://api.test"
        assert driver.config.token.get_secret_value() == "t0ken-value"
        assert driver.logger.name == "iec.driver.recording.test"
        harness.handle_batch(lifecycle("product"))
    assert driver.calls == ["created", "updated", "deleted"]


def test_harness_runs_an_async_driver_on_one_loop_from_open_to_close() -> None:
    driver = AsyncLoopBoundDriver()
    with DriverHarness(driver, config=CONFIG) as harness:
        harness.handle_batch(lifecycle("family"))
        harness.handle(make_mutation("family"))
    assert driver.calls == ["created", "updated", "deleted", "created"]
    assert driver.closed


class DeadlineReadingDriver(AsyncLoopBoundDriver):
    """Records the deadline an async `handle` sees, in its own task and in a child task."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[float | None] = []

    async def handle(self, mutation: MutationData) -> None:  # type: ignore[override]
        async def child() -> float | None:
            deadline = current_deadline()
            return None if deadline is None else deadline.timeout_s

        own = current_deadline()
        self.seen += [None if own is None else own.timeout_s, await asyncio.create_task(child())]


def test_harness_runs_async_calls_under_the_handle_deadline() -> None:
    driver = DeadlineReadingDriver()
    context = replace(make_context(), handle_timeout_s=42.0)
    with DriverHarness(driver, config=CONFIG, context=context) as harness:
        harness.handle(make_mutation("family"))
        harness.handle_batch([make_mutation("family")])
    assert driver.seen == [42.0] * 4


def test_run_handle_batch_runs_sync_and_async_drivers() -> None:
    for driver in (RecordingDriver(), AsyncLoopBoundDriver()):
        driver.mapping_service = InMemoryMappingService()
        driver.context = DriverHarness(driver).context
        if isinstance(driver, AsyncLoopBoundDriver):
            driver.handle = RecordingDriver.handle.__get__(driver)  # type: ignore[method-assign]
        run_handle_batch(driver, [make_mutation("product")])
        assert driver.calls == ["created"]


async def test_inside_an_event_loop_use_ahandle_batch() -> None:
    driver = AsyncLoopBoundDriver()
    driver.mapping_service = InMemoryMappingService()
    driver.context = DriverHarness(driver).context
    await driver.open()
    with pytest.raises(RuntimeError, match="ahandle_batch"):
        run_handle_batch(driver, [make_mutation("product")])
    await ahandle_batch(driver, [make_mutation("product")])
    assert driver.calls == ["created"]


# -- checks catch broken drivers -----------------------------------------------------------


def bound(driver: AbstractDriver) -> DriverHarness:
    harness = DriverHarness(driver, config=CONFIG)
    harness.open()
    return harness


class FragileDriver(RecordingDriver):
    """Reads payload fields without checking them (raises KeyError/TypeError)."""

    def handle(self, mutation: MutationData) -> None:
        if mutation.operation is not Operation.DELETED:
            mutation.payload["labels"]["en_US"].upper()
        super().handle(mutation)


class RejectingDriver(RecordingDriver):
    """Rejects payloads it can't use with a PermanentError, as it should."""

    def handle(self, mutation: MutationData) -> None:
        if mutation.operation is not Operation.DELETED and not isinstance(
            mutation.payload.get("labels"), Mapping
        ):
            raise PermanentError("payload has no labels")
        super().handle(mutation)


class FatalOnBadRecordDriver(RecordingDriver):
    def handle(self, mutation: MutationData) -> None:
        if not mutation.payload and mutation.operation is not Operation.DELETED:
            raise FatalError("empty payload")
        super().handle(mutation)


class DoubleCreatingDriver(RecordingDriver):
    """Creates a new downstream entity on every created mutation (not idempotent)."""

    def handle(self, mutation: MutationData) -> None:
        if mutation.operation is Operation.CREATED:
            self.mapping_service.create(
                mutation.entity_type,
                mutation.entity_uuid,
                self.integration_uuid,
                uuid.uuid4().hex,
                None,
            )
        else:
            super().handle(mutation)


class SortingDriver(RecordingDriver):
    def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        mutations.sort(key=lambda m: m.entity_uuid)  # type: ignore[attr-defined]


class UnknownDeleteFailsDriver(RecordingDriver):
    def handle(self, mutation: MutationData) -> None:
        uuid_ = mutation.entity_uuid
        known = self.mapping_service.find(mutation.entity_type, uuid_, self.integration_uuid)
        if mutation.operation is Operation.DELETED and known is None:
            raise LookupError("nothing to delete")
        super().handle(mutation)


TYPES = ("product", "category")


class UnclassifiableDriver(RecordingDriver):
    def handle(self, mutation: MutationData) -> None:
        if mutation.operation is not Operation.DELETED and "sku" in mutation.payload:
            raise ShopSpecificError("the shop said no")
        super().handle(mutation)


class ShopSpecificError(Exception):
    """An exception no classification table knows."""


class DownstreamDownDriver(RecordingDriver):
    """Lets a raw httpx error escape, which the runtime retries as transient."""

    def handle(self, mutation: MutationData) -> None:
        if mutation.operation is not Operation.DELETED and "sku" in mutation.payload:
            raise httpx.ConnectError("connection refused")
        super().handle(mutation)


def test_edge_payload_check_judges_escaping_exceptions_as_the_runtime_does() -> None:
    # KeyError/TypeError from reading a malformed payload: the runtime dead-letters them
    checks.check_edge_payload(bound(FragileDriver()), MutationFactory(), TYPES, "malformed")
    checks.check_edge_payload(bound(RejectingDriver()), MutationFactory(), TYPES, "malformed")
    # a raw httpx error: the runtime retries it
    checks.check_edge_payload(bound(DownstreamDownDriver()), MutationFactory(), TYPES, "large")
    with pytest.raises(ContractViolationError, match="which the runtime cannot classify"):
        checks.check_edge_payload(bound(UnclassifiableDriver()), MutationFactory(), TYPES, "large")
    with pytest.raises(ContractViolationError, match="stops the whole integration"):
        checks.check_edge_payload(
            bound(FatalOnBadRecordDriver()), MutationFactory(), TYPES, "empty"
        )


class AsciiOnlyDriver(RecordingDriver):
    def handle(self, mutation: MutationData) -> None:
        if not orjson.dumps(mutation.payload).isascii():
            raise PermanentError("non-ASCII payload")
        super().handle(mutation)


def test_unicode_payloads_must_succeed() -> None:
    checks.check_edge_payload(bound(RecordingDriver()), MutationFactory(), TYPES, "unicode")
    with pytest.raises(ContractViolationError, match="must succeed"):
        checks.check_edge_payload(
            bound(AsciiOnlyDriver()), MutationFactory(), ("family",), "unicode"
        )


def test_replay_check_catches_a_driver_that_creates_twice() -> None:
    harness = bound(DoubleCreatingDriver())
    with pytest.raises(ContractViolationError, match="idempotent"):
        checks.check_replay_is_idempotent(
            harness,
            MutationFactory(),
            TYPES,
            harness.mapping_service.snapshot,  # type: ignore[attr-defined]
        )


def test_unchanged_check_catches_a_driver_that_reorders_its_batch() -> None:
    with pytest.raises(ContractViolationError, match="changed the product batch list"):
        checks.check_mutations_left_unchanged(bound(SortingDriver()), MutationFactory(), TYPES)


def test_unknown_delete_check_catches_a_driver_that_raises() -> None:
    with pytest.raises(ContractViolationError, match="never created"):
        checks.check_delete_of_unknown_entity(
            bound(UnknownDeleteFailsDriver()), MutationFactory(), TYPES
        )


@pytest.mark.parametrize(
    ("attribute", "value"), [("get_version", "v1"), ("get_name", " "), ("get_type", None)]
)
def test_identity_check_catches_bad_identities(attribute: str, value: Any) -> None:
    driver = RecordingDriver()
    setattr(driver, attribute, lambda: value)
    with pytest.raises(ContractViolationError, match=attribute):
        checks.check_identity(driver)


@pytest.mark.parametrize("method", ["get_name", "get_type", "get_version", "get_description"])
def test_identity_check_names_the_method_that_raised(method: str) -> None:
    driver = RecordingDriver()

    def fails() -> str:
        raise KeyError("base_url")

    setattr(driver, method, fails)
    with pytest.raises(ContractViolationError, match=rf"^{method}\(\) raised KeyError: 'base_url'"):
        checks.check_identity(driver)


def test_the_suite_names_the_methods_a_plain_class_lacks() -> None:
    class Partial:
        def get_name(self) -> str:
            return "Partial"

        def handle(self, mutation: MutationData) -> None:
            return None

    with pytest.raises(ContractViolationError) as caught:
        DriverContractSuite().test_driver_implements_the_driver_contract(Partial())  # type: ignore[arg-type]
    assert str(caught.value).startswith(
        "Partial lacks methods of DriverContract: get_type, get_version, get_description, "
        "get_supported_entity_types, handle_batch, get_configuration_schema"
    )


@pytest.mark.parametrize("types", [(), ("product", ""), ("product", "product"), "product"])
def test_entity_types_check_catches_bad_lists(types: Any) -> None:
    driver = RecordingDriver()
    driver.get_supported_entity_types = lambda: types  # type: ignore[method-assign]
    with pytest.raises(ContractViolationError):
        checks.check_supported_entity_types(driver)


def test_configuration_check_surfaces_untranslatable_schemas() -> None:
    driver = RecordingDriver()
    driver.get_configuration_schema = lambda: {"endpoint": "required|active_url"}  # type: ignore[method-assign]
    with pytest.raises(RuleSchemaError, match="active_url"):
        checks.check_configuration_schema(driver)


# -- the suite itself ----------------------------------------------------------------------


class TestAsyncDriverPassesTheContractSuite(DriverContractSuite):
    """The suite runs an async driver whose clients are bound to the loop of open()."""

    large_payload_bytes = 1_100_000

    @pytest.fixture
    def driver(self) -> AsyncLoopBoundDriver:
        return AsyncLoopBoundDriver()

    @pytest.fixture
    def driver_config(self) -> Mapping[str, Any]:
        return CONFIG


def test_suite_reports_broken_drivers_and_missing_fixtures_in_a_plain_pytest_run(
    tmp_path: Path,
) -> None:
    test_file = tmp_path / "test_third_party_driver.py"
    test_file.write_text(
        textwrap.dedent(
            f"""
            import pytest
            from contracts.testing.suite import DriverContractSuite
            sys_path = {str(Path(__file__).parent)!r}
            import sys; sys.path.insert(0, sys_path)
            from test_testing_kit import CONFIG, DoubleCreatingDriver, RecordingDriver

            class TestNoDriverFixture(DriverContractSuite):
                pass

            class TestDoubleCreating(DriverContractSuite):
                @pytest.fixture
                def driver(self):
                    return DoubleCreatingDriver()

                @pytest.fixture
                def driver_config(self):
                    return CONFIG

            class TestWithoutConfig(DriverContractSuite):
                @pytest.fixture
                def driver(self):
                    return RecordingDriver()
            """
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-k",
            "identity or replayed",
            str(test_file),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    out = result.stdout
    assert "FAILED test_third_party_driver.py::TestDoubleCreating::test_replayed_batch" in out
    assert "handle_batch must be idempotent" in out
    assert "override the `driver` fixture" in out  # TestNoDriverFixture: 2 errors
    assert "override `driver_config`" in out  # TestWithoutConfig: 1 error
    assert re.search(r"1 failed, 2 passed, \d+ deselected, 3 errors", out)
    assert result.returncode == 1
