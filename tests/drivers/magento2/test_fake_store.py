"""The fake Magento store: schema checks, Magento's semantics, faults, counters."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, Client

from drivers.magento2.fake_store import FakeMagento, FakeMagentoServer, StoreCredentials

BEARER = {"Authorization": "Bearer fake-access-token"}
REQUIRED = {"name": "N", "price": 1}  # what a create must carry (EAV is_required)


def call(store: FakeMagento, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    import json

    raw = b"" if body is None else json.dumps(body).encode()
    headers = kw.pop("headers", BEARER)
    return asyncio.run(store.handle(method, f"http://shop.test{path}", headers, raw))


def test_a_request_the_schema_refuses_is_a_400_and_a_violation() -> None:
    store = FakeMagento()
    response = call(store, "POST", "/rest/all/V1/products", {"product": {"sku": "A", "bogus": 1}})
    assert response.status == 400
    assert "bogus" in response.json()["parameters"][0]
    assert len(store.violations) == 1
    assert "bogus" in store.violations[0]


def test_request_checks_can_be_switched_off_for_benchmarks() -> None:
    store = FakeMagento(check_requests=False)
    body = {"product": {**REQUIRED, "sku": "A", "bogus": 1}}
    assert call(store, "POST", "/rest/all/V1/products", body).status == 200
    assert store.violations == []


def test_schema_caveats_numeric_strings_and_array_values_pass_nested_required_is_dropped() -> None:
    store = FakeMagento()
    body = {
        "product": {
            "sku": "A",
            "name": "A",
            "price": "12.50",
            "extension_attributes": {"stock_item": {"qty": 3, "is_in_stock": True}},
            "custom_attributes": [{"attribute_code": "category_ids", "value": ["2"]}],
        }
    }
    response = call(store, "POST", "/rest/all/V1/products", body)
    assert response.status == 200, response.body
    assert response.json()["price"] == 12.5
    assert store.violations == []


def test_unknown_route_is_magentos_404_and_a_violation() -> None:
    store = FakeMagento()
    response = call(store, "GET", "/rest/all/V1/nothing/here")
    assert response.status == 404
    assert response.json() == {"message": "Request does not match any route."}
    assert store.violations


def test_product_save_is_an_upsert_and_overlapping_saves_of_a_new_sku_duplicate_it() -> None:
    store = FakeMagento(latency_s=0.05)
    body = {"product": {"sku": "RACE", "name": "Race", "price": 1}}

    async def both() -> list[int]:
        calls = [
            store.handle("POST", "http://s/rest/all/V1/products", BEARER, _json(body))
            for _ in range(2)
        ]
        return [r.status for r in await asyncio.gather(*calls)]

    assert asyncio.run(both()) == [200, 200]
    assert [p.sku for p in store.catalog.products] == ["RACE", "RACE"]  # Magento's race
    assert call(store, "POST", "/rest/all/V1/products", body).status == 200
    assert len(store.catalog.products) == 2
    assert store.created["product"] == 2


def _json(body: Any) -> bytes:
    import json

    return json.dumps(body).encode()


def test_url_key_conflicts_and_category_semantics() -> None:
    store = FakeMagento()
    key = [{"attribute_code": "url_key", "value": "shirt"}]
    first = {"product": {**REQUIRED, "sku": "A", "custom_attributes": key}}
    assert call(store, "POST", "/rest/all/V1/products", first).status == 200
    clash = call(store, "POST", "/rest/all/V1/products",
                 {"product": {**REQUIRED, "sku": "B", "custom_attributes": key}})  # fmt: skip
    assert clash.status == 400
    assert clash.json()["message"] == "URL key for specified store already exists."
    parent = call(store, "POST", "/rest/all/V1/categories", {"category": {"name": "Men"}}).json()
    child = call(store, "POST", "/rest/all/V1/categories",
                 {"category": {"name": "Shirts", "parent_id": parent["id"]}}).json()  # fmt: skip
    assert child["path"] == f"1/2/{parent['id']}/{child['id']}"
    # A PUT does not move; /move does; a delete takes the subtree.
    put = call(store, "PUT", f"/rest/all/V1/categories/{child['id']}",
               {"category": {"name": "Shirts", "parent_id": 2}})  # fmt: skip
    assert put.json()["parent_id"] == parent["id"]
    assert call(store, "DELETE", f"/rest/all/V1/categories/{parent['id']}").json() is True
    assert child["id"] not in store.catalog.categories
    assert call(store, "DELETE", f"/rest/all/V1/categories/{parent['id']}").status == 404


def test_attribute_sets_need_a_skeleton_and_entity_type_on_put_and_deleting_takes_products() -> (
    None
):
    store = FakeMagento()
    created = call(store, "POST", "/rest/all/V1/products/attribute-sets",
                   {"attributeSet": {"attribute_set_name": "PIM A (a)", "sort_order": 0},
                    "skeletonId": 4})  # fmt: skip
    set_id = created.json()["attribute_set_id"]
    put = call(store, "PUT", f"/rest/all/V1/products/attribute-sets/{set_id}",
               {"attributeSet": {"attribute_set_name": "PIM B (a)", "sort_order": 0}})  # fmt: skip
    assert put.status == 400
    assert put.json()["message"] == "Provided Attribute set non product Attribute set."
    call(store, "POST", "/rest/all/V1/products",
         {"product": {**REQUIRED, "sku": "P", "attribute_set_id": set_id}})  # fmt: skip
    assert call(store, "DELETE", f"/rest/all/V1/products/attribute-sets/{set_id}").status == 200
    assert store.catalog.products == []


def test_faults_answer_instead_of_the_store_and_calls_are_counted() -> None:
    store = FakeMagento()
    store.faults.inject("rate_limit", retry_after_s=3)
    store.faults.inject("deadlock", method="POST")
    limited = call(store, "GET", "/rest/all/V1/store/storeViews")
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "3"
    deadlock = call(store, "POST", "/rest/all/V1/products", {"product": {**REQUIRED, "sku": "A"}})
    assert deadlock.status == 400
    assert deadlock.json()["message"].startswith("Database deadlock found")
    assert (
        call(store, "POST", "/rest/all/V1/products", {"product": {**REQUIRED, "sku": "A"}}).status
        == 200
    )
    assert store.calls_by_status() == {("GET", 429): 1, ("POST", 400): 1, ("POST", 200): 1}
    assert store.count("POST", "/V1/products", 200) == 1


def test_a_request_meeting_an_injected_fault_is_still_checked() -> None:
    store = FakeMagento()
    store.faults.inject("deadlock", method="POST")
    bad = call(
        store, "POST", "/rest/all/V1/products", {"product": {**REQUIRED, "sku": "A", "x": 1}}
    )
    assert bad.status == 400
    assert len(store.violations) == 1
    store.violations.clear()
    good = call(store, "POST", "/rest/all/V1/products", {"product": {**REQUIRED, "sku": "A"}})
    assert good.json()["message"].startswith("Database deadlock found")


def test_bulk_reports_items_open_then_done_with_per_item_failures() -> None:
    store = FakeMagento(bulk_open_polls=1)
    key = [{"attribute_code": "url_key", "value": "same"}]
    accepted = call(store, "POST", "/rest/all/async/bulk/V1/products", [
        {"product": {**REQUIRED, "sku": "A", "custom_attributes": key}},
        {"product": {**REQUIRED, "sku": "B", "custom_attributes": key}},
    ])  # fmt: skip
    assert accepted.status == 202
    bulk = accepted.json()["bulk_uuid"]
    first = call(store, "GET", f"/rest/all/V1/bulk/{bulk}/status").json()
    assert {op["status"] for op in first["operations_list"]} == {4}
    second = call(store, "GET", f"/rest/all/V1/bulk/{bulk}/status").json()
    assert [op["status"] for op in second["operations_list"]] == [1, 3]
    assert "URL key" in second["operations_list"][1]["result_message"]


def test_bulk_operation_ids_can_be_row_ids_and_the_detailed_status_shows_the_request() -> None:
    store = FakeMagento(bulk_operation_ids="database", bulk_open_polls=0)
    ids = []
    for skus in (["A", "B"], ["C"]):
        bodies = [{"product": {"sku": sku, "name": sku, "price": 1}} for sku in skus]
        accepted = call(store, "POST", "/rest/all/async/bulk/V1/products", bodies).json()
        assert [item["id"] for item in accepted["request_items"]] == list(range(len(skus)))
        bulk = accepted["bulk_uuid"]
        status = call(store, "GET", f"/rest/all/V1/bulk/{bulk}/status").json()
        ids += [op["id"] for op in status["operations_list"]]
    assert ids == [77, 78, 79]  # store-wide, as a table's identity column
    detailed = call(store, "GET", f"/rest/all/V1/bulk/{bulk}/detailed-status").json()
    (op,) = detailed["operations_list"]
    assert json.loads(json.loads(op["serialized_data"])["meta_information"]) == {
        "product": {"sku": "C", "name": "C", "price": 1}}  # fmt: skip
    assert json.loads(op["result_serialized_data"])["sku"] == "C"
    assert store.violations == []


def test_credentials_oauth_hmac_sha256_is_verified_and_bearer_can_be_off() -> None:
    creds = StoreCredentials(bearer_enabled=False)
    store = FakeMagento(credentials=creds)
    with FakeMagentoServer(store) as server:
        url = f"{server.base_url}/rest/all/V1/store/storeViews"
        signer = Client(creds.consumer_key, client_secret=creds.consumer_secret,
                        resource_owner_key=creds.access_token,
                        resource_owner_secret=creds.access_token_secret,
                        signature_method=SIGNATURE_HMAC_SHA256)  # fmt: skip
        _uri, headers, _ = signer.sign(url, "GET")
        assert httpx.get(url, headers=headers).status_code == 200
        wrong = Client(creds.consumer_key, client_secret="wrong",
                       resource_owner_key=creds.access_token,
                       resource_owner_secret=creds.access_token_secret,
                       signature_method=SIGNATURE_HMAC_SHA256)  # fmt: skip
        _uri, bad_headers, _ = wrong.sign(url, "GET")
        refused = httpx.get(url, headers=bad_headers)
        assert refused.status_code == 401
        assert refused.json()["parameters"] == {"resources": "Magento_Backend::store"}
        assert httpx.get(url, headers=BEARER).status_code == 401


@pytest.mark.parametrize("path", ["/rest/all/V1/products/A%2FB", "/rest/all/V1/products/A%2BB"])
def test_encoded_skus_reach_the_product(path: str) -> None:
    store = FakeMagento()
    sku = "A/B" if "%2F" in path else "A+B"
    call(store, "POST", "/rest/all/V1/products", {"product": {**REQUIRED, "sku": sku}})
    assert call(store, "GET", path).json()["sku"] == sku
