"""The magento2 driver against the fake store: every entity type and operation, references,
idempotence, errors, localized values, concurrency and bulk mode."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, cast

import pytest
from magento_store import driver_config, store_call

from contracts import (
    ConfigurationError,
    ConfigValidationError,
    DependencyNotReadyError,
    FatalError,
    MappingData,
    MutationData,
    NewMapping,
    PartialBatchError,
    PermanentError,
    RateLimitedError,
    TransientError,
    configuration_json_schema,
    deadline_scope,
    secret_values,
    validate_configuration,
)
from contracts.testing import (
    TEST_INTEGRATION_UUID,
    DriverHarness,
    InMemoryMappingService,
    make_context,
)
from drivers.magento2 import Magento2Config, Magento2Driver
from drivers.magento2.api import MagentoApi
from drivers.magento2.fake_store import FakeMagento, FakeMagentoServer
from drivers.magento2.ordering import run_in_key_order
from drivers.magento2.session import data_of

CAT_A, CAT_B, CAT_C = (
    "c0000000-0000-4000-8000-00000000000a",
    "c000000b-0000-4000-8000-000000000000",
    "c000000c-0000-4000-8000-000000000000",
)
FAM, ATTR = "f0000000-0000-4000-8000-000000000001", "a0000000-0000-4000-8000-000000000001"
PROD, PROD2 = "90000000-0000-4000-8000-000000000001", "90000000-0000-4000-8000-000000000002"


def mutation(entity_type: str, uuid: str, op: str, payload: dict[str, Any] | None = None,
             version: int | None = None,
             changed: tuple[str, ...] = ()) -> MutationData:  # fmt: skip
    return MutationData(entity_type=entity_type, entity_uuid=uuid, operation=op,
                        payload=payload or {}, version=version, changed_fields=changed)  # fmt: skip


def mapped(mappings: InMemoryMappingService, entity_type: str, uuid: str) -> MappingData:
    found = mappings.find(entity_type, uuid, TEST_INTEGRATION_UUID)
    assert found is not None, f"no mapping for {entity_type} {uuid}"
    return found


@pytest.fixture
def mappings() -> InMemoryMappingService:
    return InMemoryMappingService(integration_uuid=TEST_INTEGRATION_UUID)


@contextmanager
def bound(server: FakeMagentoServer, mappings: Any, **config: Any) -> Iterator[DriverHarness]:
    with DriverHarness(
        Magento2Driver(), config=driver_config(server, **config), mapping_service=mappings
    ) as harness:
        yield harness


def product(sku: str, **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "family": FAM, "categories": [CAT_A],
            "name": {"en_US": f"Shirt {sku}", "de_DE": f"Hemd {sku}", "fr_FR": f"Chemise {sku}"},
            "price": [{"currency": "EUR", "amount": "19.90"}], "enabled": True, "stock": 4,
            "colour": "red", **extra}  # fmt: skip


def seed_catalogue(h: DriverHarness) -> None:
    h.handle_batch(
        [mutation("family", FAM, "created", {"code": "shirts", "labels": {"en_US": "Shirts"}})]
    )
    h.handle_batch([mutation("attribute", ATTR, "created", {
        "code": "colour", "type": "pim_catalog_simpleselect", "labels": {"en_US": "Colour",
                                                                         "de_DE": "Farbe"},
        "options": [{"code": "red", "labels": {"en_US": "Red", "de_DE": "Rot"}},
                    {"code": "blue", "labels": {"en_US": "Blue"}}]})])  # fmt: skip
    h.handle_batch(
        [mutation("category", CAT_A, "created", {"code": "men", "labels": {"en_US": "Men"}})]
    )


def test_every_entity_type_and_operation(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    with bound(fake_server, mappings, allow_destructive_deletes=True) as h:
        seed_catalogue(h)
        h.handle_batch([mutation("family", FAM, "updated", {
            "code": "shirts", "labels": {"en_US": "Shirts"}, "attributes": ["sku", "colour"]},
            version=2)])  # fmt: skip
        set_id = int(mapped(mappings, "family", FAM).external_id)
        assert fake_store.eav.sets[set_id].name == "PIM Shirts (shirts)"
        group = next(g for g in fake_store.eav.groups.values() if g.set_id == set_id
                     and g.name == "PIM")  # fmt: skip
        assert fake_store.eav.sets[set_id].members["colour"] == group.id
        attribute = fake_store.eav.attributes["colour"]
        assert [o["label"] for o in attribute.options.values()] == ["Red", "Blue"]
        h.handle_batch([mutation("attribute", ATTR, "updated", {
            "code": "colour", "type": "pim_catalog_simpleselect", "labels": {"en_US": "Color"},
            "options": [{"code": "red", "labels": {"en_US": "Crimson"}},
                        {"code": "blue", "labels": {"en_US": "Blue"}},
                        {"code": "green", "labels": {"en_US": "Green"}}]}, version=2)])  # fmt: skip
        assert [o["label"] for o in attribute.options.values()] == ["Crimson", "Blue", "Green"]
        assert attribute.data["default_frontend_label"] == "Color"
        h.handle_batch(
            [
                mutation(
                    "category",
                    CAT_B,
                    "created",
                    {"code": "shirts", "parent": CAT_A, "labels": {"en_US": "S"}},
                )
            ]
        )
        h.handle_batch([mutation("category", CAT_C, "created", {"code": "tops"})])
        h.handle_batch([mutation("product", PROD, "created", product("S-1"))])
        stored = fake_store.catalog.find_product("S-1")
        assert stored is not None
        assert stored.attribute_set_id == set_id
        red = data_of(mapped(mappings, "attribute", ATTR))["options"]["red"]
        assert stored.value("colour") == red
        assert stored.value("url_key") == "shirt-s-1-s-1"
        assert stored.stock == {"qty": 4.0, "is_in_stock": True}
        # update: only the changed fields go, and the move of a category goes through /move
        before = fake_store.count("PUT", "/V1/products/{sku}")
        h.handle_batch([mutation("product", PROD, "updated", product("S-1", stock=0),
                                 version=2, changed=("stock",))])  # fmt: skip
        assert fake_store.count("PUT", "/V1/products/{sku}") == before + 1
        assert stored.stock == {"qty": 0.0, "is_in_stock": False}
        b_id = int(mapped(mappings, "category", CAT_B).external_id)
        c_id = int(mapped(mappings, "category", CAT_C).external_id)
        h.handle_batch([mutation("category", CAT_B, "updated",
                                 {"code": "shirts", "parent": CAT_C}, version=2)])  # fmt: skip
        assert fake_store.catalog.categories[b_id].parent_id == c_id
        assert fake_store.count("PUT", "/V1/categories/{categoryId}/move", 200) == 1
        # deletes
        for entity_type, uuid in (("product", PROD), ("category", CAT_B), ("attribute", ATTR),
                                  ("family", FAM)):  # fmt: skip
            h.handle_batch([mutation(entity_type, uuid, "deleted", version=9)])
            assert mappings.find(entity_type, uuid, TEST_INTEGRATION_UUID) is None
        assert fake_store.catalog.products == []
        assert b_id not in fake_store.catalog.categories
        assert "colour" not in fake_store.eav.attributes
        assert set_id not in fake_store.eav.sets


def test_destructive_deletes_are_refused_by_default(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    with bound(fake_server, mappings) as h:
        seed_catalogue(h)
        for entity_type, uuid, what in (("attribute", ATTR, "values on every product"),
                                        ("family", FAM, "every product in it")):  # fmt: skip
            with pytest.raises(PermanentError, match=what):
                h.handle_batch([mutation(entity_type, uuid, "deleted")])
        assert "colour" in fake_store.eav.attributes
        assert mappings.find("family", FAM, TEST_INTEGRATION_UUID) is not None


def test_a_product_ahead_of_its_attributes_new_option_waits_for_it(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    with bound(fake_server, mappings) as h:
        seed_catalogue(h)
        purple = mutation("product", PROD, "created", product("S-1", colour="purple"))
        with pytest.raises(DependencyNotReadyError, match="purple") as waiting:
            h.handle_batch([purple])
        assert waiting.value.entity_type == "attribute"
        assert waiting.value.entity_uuid == ATTR
        assert fake_store.catalog.find_product("S-1") is None  # not saved without its colour
        h.handle_batch([mutation("attribute", ATTR, "updated", {
            "code": "colour", "type": "pim_catalog_simpleselect", "labels": {"en_US": "Colour"},
            "options": [{"code": "red"}, {"code": "blue"}, {"code": "purple"}]},
            version=2)])  # fmt: skip
        h.handle_batch([purple])
    stored = fake_store.catalog.find_product("S-1")
    assert stored is not None
    assert (
        stored.value("colour") == data_of(mapped(mappings, "attribute", ATTR))["options"]["purple"]
    )


def test_an_attribute_type_change_is_refused_with_the_reason(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    with bound(fake_server, mappings) as h:
        seed_catalogue(h)
        before = fake_store.count("PUT", "/V1/products/attributes/{attributeCode}")
        to_text = mutation("attribute", ATTR, "updated", {
            "code": "colour", "type": "pim_catalog_text", "labels": {"en_US": "Colour"}},
            version=2)  # fmt: skip
        with pytest.raises(PermanentError, match="cannot change an attribute's input type"):
            h.handle_batch([to_text])
        # Same type (or none said): an ordinary update.
        h.handle_batch([mutation("attribute", ATTR, "updated", {
            "code": "colour", "labels": {"en_US": "Color"}}, version=3)])  # fmt: skip
    assert fake_store.eav.attributes["colour"].frontend_input == "select"
    assert fake_store.eav.attributes["colour"].data["default_frontend_label"] == "Color"
    assert fake_store.count("PUT", "/V1/products/attributes/{attributeCode}") == before + 1


def test_deleting_what_magento_no_longer_has_succeeds_and_forgets_the_mapping(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    with bound(fake_server, mappings, allow_destructive_deletes=True) as h:
        seed_catalogue(h)
        h.handle_batch([mutation("product", PROD, "created", product("S-1"))])
        category_id = mapped(mappings, "category", CAT_A).external_id
        set_id = mapped(mappings, "family", FAM).external_id
        # A merchant removed them in the admin; then the PIM deletes them too.
        store_call(fake_store, "DELETE", "/rest/all/V1/products/S-1")
        store_call(fake_store, "DELETE", f"/rest/all/V1/categories/{category_id}")
        store_call(fake_store, "DELETE", "/rest/all/V1/products/attributes/colour")
        store_call(fake_store, "DELETE", f"/rest/all/V1/products/attribute-sets/{set_id}")
        for entity_type, uuid in (("product", PROD), ("category", CAT_A), ("attribute", ATTR),
                                  ("family", FAM)):  # fmt: skip
            h.handle_batch([mutation(entity_type, uuid, "deleted", version=9)])
            assert mappings.find(entity_type, uuid, TEST_INTEGRATION_UUID) is None
    assert sum(n for (m, _t, status), n in fake_store.calls.items()
               if m == "DELETE" and status == 404) == 4  # fmt: skip


@contextmanager
def plain_http_server(status: int, headers: dict[str, str], body: bytes) -> Iterator[str]:
    """A server that is not Magento: every request gets the same answer."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value.replace("{path}", self.path))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = answer  # noqa: N815 (http.server names)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "headers", "body", "says"),
    [
        (404, {"Content-Type": "text/html"}, b"<h1>Not Found</h1>", "does not reach Magento"),
        (301, {"Location": "https://shop.test{path}?token=s3cret"}, b"", "https://shop.test/rest"),
    ],
)
def test_a_base_url_that_is_not_magentos_api_stops_and_forgets_nothing(
    status: int, headers: dict[str, str], body: bytes, says: str
) -> None:
    mappings = InMemoryMappingService(integration_uuid=TEST_INTEGRATION_UUID)
    mappings.create("product", PROD, TEST_INTEGRATION_UUID, "5", {"sku": "S-1"})
    with plain_http_server(status, headers, body) as url:
        config = {"base_url": url, "auth": "bearer", "access_token": "tok-123456"}
        harness = DriverHarness(Magento2Driver(), config=config, mapping_service=mappings)
        with harness as h:
            for m in (mutation("product", PROD, "deleted", version=9),
                      mutation("category", CAT_A, "created", {"code": "men"})):  # fmt: skip
                with pytest.raises(ConfigurationError, match="base_url") as stopped:
                    h.handle_batch([m])
                assert says in str(stopped.value)
                assert "s3cret" not in str(stopped.value)
    assert mappings.find("product", PROD, TEST_INTEGRATION_UUID) is not None


def test_a_category_tree_published_child_first_resolves_once_the_parent_is_there(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    child = mutation("category", CAT_B, "created", {"code": "shirts", "parent": CAT_A})
    with bound(fake_server, mappings) as h:
        with pytest.raises(DependencyNotReadyError, match="parent"):
            h.handle_batch([child])
        h.handle_batch([mutation("category", CAT_A, "created", {"code": "men"})])
        h.handle_batch([child])  # the runtime's retry
    a_id = mapped(mappings, "category", CAT_A).external_id
    b_id = mapped(mappings, "category", CAT_B).external_id
    assert fake_store.catalog.categories[int(b_id)].parent_id == int(a_id)


class _CrashingMappings(InMemoryMappingService):
    """Fails the first mapping write: the process died between the create and the mapping."""

    crashed = False

    async def acreate_many(self, mappings: Any, integration_uuid: str) -> None:
        if not self.crashed:
            self.crashed = True
            raise TransientError("the process died here")
        await super().acreate_many(mappings, integration_uuid)


def test_replay_after_a_crash_creates_nothing_twice(
    fake_server: FakeMagentoServer, fake_store: FakeMagento
) -> None:
    mappings = _CrashingMappings(integration_uuid=TEST_INTEGRATION_UUID)
    batch = [
        mutation("family", FAM, "created", {"code": "shirts"}),
        mutation("attribute", ATTR, "created",
                 {"code": "colour", "type": "select", "options": [{"code": "red"}]}),
        mutation("category", CAT_A, "created", {"code": "men"}),
    ]  # fmt: skip
    with bound(fake_server, mappings) as h:
        with pytest.raises(TransientError):
            h.handle_batch(batch[:1])  # created in Magento, mapping lost
        for m in batch:
            h.handle_batch([m])
    created = dict(fake_store.created)
    assert created == {"attribute_set": 1, "attribute": 1, "category": 1}
    # a new instance (after a restart) replays the whole batch: nothing is created again
    with bound(fake_server, mappings) as h:
        h.handle_batch(batch)
        h.handle_batch([mutation("product", PROD, "created", product("S-1"))])
        h.handle_batch([mutation("product", PROD, "created", product("S-1"))])
    assert fake_store.created == {**created, "product": 1}
    assert len(fake_store.catalog.products) == 1


def test_a_sku_already_in_the_store_is_adopted(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    existing = store_call(fake_store, "POST", "/rest/all/V1/products",
                          {"product": {"sku": "S-1", "name": "Old", "price": 1}})  # fmt: skip
    with bound(fake_server, mappings) as h:
        seed_catalogue(h)
        h.handle_batch([mutation("product", PROD, "created", product("S-1"))])
    assert [p.id for p in fake_store.catalog.products] == [existing["id"]]
    assert fake_store.catalog.products[0].value("name") == "Shirt S-1"
    assert mapped(mappings, "product", PROD).external_id == str(existing["id"])


def test_two_entities_with_one_sku_in_one_batch_never_race(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    with bound(fake_server, mappings) as h:
        seed_catalogue(h)
        fake_store.latency_s = 0.05  # wide enough for Magento's duplicate-SKU race
        h.handle_batch([mutation("product", PROD, "created", product("S-1")),
                        mutation("product", PROD2, "created", product("S-1"))])  # fmt: skip
    assert len(fake_store.catalog.products) == 1


def test_localized_values_reach_their_store_views(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    with bound(fake_server, mappings) as h:
        seed_catalogue(h)
        h.handle_batch([mutation("product", PROD, "created", product("S-1"))])
        h.handle_batch([mutation("category", CAT_B, "created", {
            "code": "shirts", "labels": {"en_US": "Shirts", "de_DE": "Hemden"}})])  # fmt: skip
    stored = fake_store.catalog.products[0]
    assert (stored.value("name", 0), stored.value("name", 2), stored.value("name", 3)) == (
        "Shirt S-1", "Hemd S-1", "Chemise S-1")  # fmt: skip
    assert fake_store.count("PUT", "/V1/products/{sku}") == 2  # one per store view
    b_id = int(mapped(mappings, "category", CAT_B).external_id)
    category = fake_store.catalog.categories[b_id]
    assert (category.value("name", 0), category.value("name", 2)) == ("Shirts", "Hemden")
    assert fake_store.eav.attributes["colour"].data["frontend_labels"] == [
        {"store_id": 2, "label": "Farbe"}
    ]


def test_a_stale_mutation_changes_nothing(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    with bound(fake_server, mappings) as h:
        seed_catalogue(h)
        h.handle_batch([mutation("product", PROD, "created", product("S-1"), version=5)])
        calls = sum(fake_store.calls.values())
        h.handle_batch([mutation("product", PROD, "updated", product("S-1", stock=99),
                                 version=4)])  # fmt: skip
    assert sum(fake_store.calls.values()) == calls
    assert fake_store.catalog.products[0].stock["qty"] == 4.0


def test_stale_category_attribute_and_family_mutations_change_nothing(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    newer: dict[str, tuple[str, dict[str, Any]]] = {
        "category": (CAT_B, {"code": "kids", "labels": {"en_US": "Kids"}}),
        "attribute": (ATTR, {"code": "colour", "type": "pim_catalog_simpleselect",
                             "labels": {"en_US": "Colour"}, "options": [{"code": "red"}]}),
        "family": (FAM, {"code": "shirts", "labels": {"en_US": "Shirts"}}),
    }  # fmt: skip
    with bound(fake_server, mappings) as h:
        seed_catalogue(h)
        for entity_type, (uuid, payload) in newer.items():
            h.handle_batch([mutation(entity_type, uuid, "updated", payload, version=5)])
        calls = sum(fake_store.calls.values())
        for entity_type, (uuid, payload) in newer.items():
            older = {**payload, "labels": {"en_US": "Older"}}
            h.handle_batch([mutation(entity_type, uuid, "updated", older, version=4)])
    assert sum(fake_store.calls.values()) == calls
    category_id = int(mapped(mappings, "category", CAT_B).external_id)
    assert fake_store.catalog.categories[category_id].values[0]["name"] == "Kids"


def test_throttling_unavailability_and_deadlocks_are_transient(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    with bound(fake_server, mappings) as h:
        seed_catalogue(h)
        fake_store.faults.inject("rate_limit", retry_after_s=7)
        fake_store.faults.inject("unavailable", method="POST")
        fake_store.faults.inject("deadlock", method="POST")
        create = [mutation("product", PROD, "created", product("S-1"))]
        with pytest.raises(RateLimitedError) as limited:
            h.handle_batch(create)
        assert limited.value.retry_after == 7
        with pytest.raises(TransientError, match="503"):
            h.handle_batch(create)
        with pytest.raises(TransientError, match="deadlock"):
            h.handle_batch(create)
        h.handle_batch(create)
    assert len(fake_store.catalog.products) == 1


def test_a_batch_near_its_deadline_returns_what_it_finished_and_starts_no_more(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    fake_store.latency_s = 0.25
    context = replace(make_context(), handle_timeout_s=3.0)  # mutations start until 2 s left
    config = driver_config(fake_server, max_concurrent_requests=2, request_timeout_s=1,
                           locale_stores={})  # fmt: skip
    batch = [mutation("product", f"6{i:07d}-0000-4000-8000-000000000000", "created",
                      {"sku": f"D-{i}", "name": f"D {i}", "price": 1})
             for i in range(40)]  # fmt: skip
    harness = DriverHarness(Magento2Driver(), config=config, mapping_service=mappings,
                            context=context)  # fmt: skip
    with harness as h:
        started = time.monotonic()
        with pytest.raises(PartialBatchError) as partial:
            h.handle_batch(batch)
        took = time.monotonic() - started
    assert took < 3.0  # returned before the deadline, not cancelled at it
    failures = partial.value.failures
    done = [i for i in range(len(batch)) if i not in failures]
    assert done  # what finished counts ...
    assert len(failures) > len(batch) // 2  # ... and most were never started
    for index, failure in failures.items():
        assert isinstance(failure, TransientError)
        assert "not started" in str(failure)
        assert fake_store.catalog.find_product(f"D-{index}") is None
    for index in done:
        assert mappings.find("product", batch[index].entity_uuid, TEST_INTEGRATION_UUID)


async def test_a_mutation_waits_for_a_free_slot_only_until_the_deadline_is_near() -> None:
    slots = asyncio.Semaphore(1)
    await slots.acquire()  # another batch's mutation holds the only slot
    done: list[str] = []

    async def work(item: str) -> None:
        done.append(item)

    started = time.monotonic()
    with deadline_scope(2.5):  # mutations start only with 2 s left
        failures = await run_in_key_order(["a", "b"], str, work, slots=slots)
    assert time.monotonic() - started < 1.0
    assert done == []
    assert sorted(failures) == [0, 1]
    assert all("not started" in str(f) for f in failures.values())


class _NeverAnsweringHttp:
    async def request(self, method: str, url: str, **kwargs: Any) -> Any:
        await asyncio.Event().wait()


async def test_a_request_waits_for_a_free_slot_only_until_the_deadline() -> None:
    config = Magento2Config.model_validate({
        "base_url": "https://shop.test", "auth": "bearer", "access_token": "tok-123456",
        "max_concurrent_requests": 1})  # fmt: skip
    api = MagentoApi(cast(Any, _NeverAnsweringHttp()), config)
    with deadline_scope(0.5):
        holder = asyncio.create_task(api.call("GET", "/store/storeViews"))
        await asyncio.sleep(0.01)
        started = time.monotonic()
        with pytest.raises(TransientError, match="no request slot was free"):
            await api.call("GET", "/products/A")
        assert time.monotonic() - started < 0.5
    holder.cancel()


def test_a_401_is_fatal_and_names_the_credentials_and_resource_without_secrets(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    fake_store.denied_resources.add("Magento_Catalog::products")
    with bound(fake_server, mappings) as h:
        seed_catalogue(h)
        batch = [mutation("product", u, "created", product(f"S-{i}"))
                 for i, u in enumerate((PROD, PROD2))]  # fmt: skip
        with pytest.raises(FatalError) as stopped:
            h.handle_batch(batch)
    text = str(stopped.value)
    assert "consumer_key" in text
    assert "Magento_Catalog::products" in text
    creds = fake_store.credentials
    assert creds.consumer_secret not in text
    assert creds.access_token_secret not in text


def test_a_validation_400_is_permanent_with_magentos_rendered_message(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    with bound(fake_server, mappings) as h:
        seed_catalogue(h)
        clash = product("S-2", url_key="taken")
        store_call(fake_store, "POST", "/rest/all/V1/products", {"product": {
            "sku": "OTHER", "name": "Other", "price": 1,
            "custom_attributes": [{"attribute_code": "url_key", "value": "taken"}]}})  # fmt: skip
        batch = [mutation("product", PROD, "created", product("S-1")),
                 mutation("product", PROD2, "created", clash)]  # fmt: skip
        with pytest.raises(PartialBatchError) as partial:
            h.handle_batch(batch)
    assert list(partial.value.failures) == [1]
    assert "URL key for specified store already exists." in str(partial.value.failures[1])


@pytest.mark.parametrize("operation_ids", ["index", "database"])
def test_bearer_tokens_and_the_bulk_mode(
    fake_server: FakeMagentoServer,
    fake_store: FakeMagento,
    mappings: InMemoryMappingService,
    operation_ids: Any,
) -> None:
    # The status's operation ids are the request indexes on some stores, row ids on others.
    fake_store.bulk.operation_ids = operation_ids
    with bound(fake_server, mappings, auth="bearer", consumer_key=None, consumer_secret=None,
               access_token_secret=None, bulk_mode=True,
               bulk_poll_interval_s=0.01) as h:  # fmt: skip
        seed_catalogue(h)
        store_call(fake_store, "POST", "/rest/all/V1/products", {"product": {
            "sku": "OTHER", "name": "Other", "price": 1,
            "custom_attributes": [{"attribute_code": "url_key", "value": "taken"}]}})  # fmt: skip
        batch = [mutation("product", f"9{i:07d}-0000-4000-8000-000000000000", "created",
                          product(f"B-{i}", **({"url_key": "taken"} if i == 3 else {})))
                 for i in range(6)]  # fmt: skip
        with pytest.raises(PartialBatchError) as partial:
            h.handle_batch(batch)
    assert list(partial.value.failures) == [3]
    assert "URL key" in str(partial.value.failures[3])
    assert fake_store.count("POST", "/async/bulk/V1/products", 202) == 3  # admin, de, fr
    for m in batch[:3] + batch[4:]:
        sku = m.payload["sku"]
        stored = fake_store.catalog.find_product(sku)
        assert stored is not None
        assert stored.value("name", 2) == f"Hemd {sku}"
        found = mappings.find("product", m.entity_uuid, TEST_INTEGRATION_UUID)
        assert found is not None
        assert found.external_id == str(stored.id)


class _CountingMappings(InMemoryMappingService):
    def __init__(self) -> None:
        super().__init__(integration_uuid=TEST_INTEGRATION_UUID)
        self.writes: list[int] = []

    async def acreate_many(self, mappings: Iterable[NewMapping], integration_uuid: str) -> None:
        listed = list(mappings)
        self.writes.append(len(listed))
        await super().acreate_many(listed, integration_uuid)


def test_a_bulk_still_queued_when_the_call_runs_out_of_time_is_transient(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    fake_store.bulk.open_polls = 10**6  # the store's queue consumer is not running
    context = replace(make_context(), handle_timeout_s=2.5)
    config = driver_config(fake_server, bulk_mode=True, bulk_poll_interval_s=0.05,
                           request_timeout_s=2, locale_stores={})  # fmt: skip
    batch = [mutation("product", f"7{i:07d}-0000-4000-8000-000000000000", "created",
                      {"sku": f"Q-{i}", "name": f"Q {i}"}) for i in range(3)]  # fmt: skip
    harness = DriverHarness(Magento2Driver(), config=config, mapping_service=mappings,
                            context=context)  # fmt: skip
    with harness as h, pytest.raises(PartialBatchError) as partial:
        h.handle_batch(batch)
    assert sorted(partial.value.failures) == [0, 1, 2]
    for failure in partial.value.failures.values():
        assert isinstance(failure, TransientError)
        assert "still queued" in str(failure)
    assert fake_store.count("GET", "/V1/bulk/{bulkUuid}/status", 200) >= 2


def test_bulk_mode_writes_the_batchs_mappings_at_once() -> None:
    mappings = _CountingMappings()
    store = FakeMagento()
    config = {"bulk_mode": True, "bulk_poll_interval_s": 0.01, "locale_stores": {}}
    with FakeMagentoServer(store) as server, bound(server, mappings, **config) as h:
        h.handle_batch([mutation("product", f"8{i:07d}-0000-4000-8000-000000000000", "created",
                                 {"sku": f"K-{i}", "name": f"K {i}", "price": 9})
                        for i in range(5)])  # fmt: skip
    assert mappings.writes == [5]
    assert store.violations == []


def test_a_field_map_extends_the_default_map(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    with bound(fake_server, mappings, field_map={"teaser": "short_description"}) as h:
        seed_catalogue(h)
        h.handle_batch([mutation("product", PROD, "created", product("S-1", teaser="Soft"))])
    stored = fake_store.catalog.find_product("S-1")
    assert stored is not None
    assert stored.value("short_description") == "Soft"
    assert stored.value("name") == "Shirt S-1"
    assert stored.value("price") == 19.9


def test_the_configuration_is_documented_validated_and_secret() -> None:
    schema = configuration_json_schema(Magento2Config)
    undocumented = [k for k, v in schema["properties"].items() if not v.get("description")]
    assert undocumented == []
    with pytest.raises(ConfigValidationError) as refused:
        validate_configuration(
            Magento2Config,
            {
                "base_url": "https://shop.test",
                "consumer_key": "key-1234",
                "access_token": "tok-1234",
            },
        )
    assert "consumer_secret, access_token_secret" in str(refused.value)
    bearer = {"base_url": "https://shop.test", "auth": "bearer", "access_token": "tok-123456"}
    config = validate_configuration(Magento2Config, bearer)
    assert "tok-123456" not in repr(config)
    assert "tok-123456" in secret_values(config)


def test_a_request_timeout_above_the_handle_timeout_is_refused_at_bind(
    fake_server: FakeMagentoServer, mappings: InMemoryMappingService
) -> None:
    context = replace(make_context(), handle_timeout_s=5.0)
    harness = DriverHarness(
        Magento2Driver(), config=driver_config(fake_server, request_timeout_s=10),
        mapping_service=mappings, context=context,
    )  # fmt: skip
    with pytest.raises(ConfigurationError, match="request_timeout_s"):
        harness.open()
    harness.close()


def test_an_unreachable_store_is_transient_and_a_wrong_path_is_fatal(
    fake_server: FakeMagentoServer, fake_store: FakeMagento, mappings: InMemoryMappingService
) -> None:
    category = [mutation("category", CAT_A, "created", {"code": "men"})]
    unreachable = bound(fake_server, mappings, base_url="http://127.0.0.1:9")
    with unreachable as h, pytest.raises(TransientError, match="ConnectError"):
        h.handle_batch(category)
    wrong_path = bound(fake_server, mappings, base_url=f"{fake_server.base_url}/shop")
    with wrong_path as h, pytest.raises(ConfigurationError, match="no such route"):
        h.handle_batch(category)
    fake_store.violations.clear()  # the wrong path was refused, as it should be
