"""The driver's pure logic: error model, url keys, payload reading, request bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts import (
    ConfigurationError,
    FatalError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from drivers.magento2 import bodies, bulk_results, payload_values
from drivers.magento2.bodies import Locales, ProductShape
from drivers.magento2.config import DEFAULT_FIELD_MAP
from drivers.magento2.error_model import MagentoErrorBody, NotFoundError, classify, render
from drivers.magento2.url_keys import category_url_key, product_url_key


def test_messages_are_rendered_with_positional_and_named_parameters() -> None:
    assert render("Invalid product data: %1", ["bad set"]) == "Invalid product data: bad set"
    named = {"fieldName": "id", "fieldValue": "7"}
    assert render("No such entity with %fieldName = %fieldValue", named) == (
        "No such entity with id = 7"
    )
    parsed = MagentoErrorBody.parse(
        b'{"message": "%1 failed", "parameters": ["Save"],'
        b' "errors": [{"message": "%1 is required", "parameters": ["name"]}]}'
    )
    assert parsed is not None
    assert parsed.message == "Save failed (name is required)"
    assert MagentoErrorBody.parse(b"<html>502</html>") is None


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (401, "The consumer isn't authorized to access %resources.", FatalError),
        (403, "Forbidden", FatalError),
        (404, "Request does not match any route.", ConfigurationError),
        (404, 'Product "%1" does not exist', NotFoundError),
        (404, None, ConfigurationError),  # not Magento's error JSON: another server
        (301, None, ConfigurationError),
        (302, None, ConfigurationError),
        (429, "Too Many Requests", RateLimitedError),
        (503, "Service Unavailable", TransientError),
        (400, "Database deadlock found when trying to get lock", TransientError),
        (400, "Database lock wait timeout exceeded", TransientError),
        (400, "URL key for specified store already exists.", PermanentError),
    ],
)
def test_classification_follows_magentos_error_model(
    status: int, message: str | None, expected: type[Exception]
) -> None:
    body = None if message is None else MagentoErrorBody(message, message)
    error = classify(status, body, request="PUT /x")
    assert type(error) is expected or (expected is FatalError and isinstance(error, FatalError))


def test_a_401_names_the_credentials_and_the_acl_resources() -> None:
    error = classify(401, MagentoErrorBody("no", "no"), request="POST /rest/all/V1/products")
    text = str(error)
    assert "consumer_key" in text
    assert "Magento_Catalog::products" in text


def test_url_keys_are_explicit_unique_and_transliterated() -> None:
    assert product_url_key("SKU-1", "Größe Shirt") == "grosse-shirt-sku-1"
    assert product_url_key("A/B", None) == "a-b"
    assert product_url_key("X", "Y", given="Own Key") == "own-key"
    assert category_url_key("summer_collection", "Summer", "u") == "summer-collection"
    assert category_url_key(None, "麻のシャツ", "u") == "ma-nosiyatu"


def test_payload_values_in_every_shape() -> None:
    akeneo = {"values": {"name": [{"locale": "en_US", "scope": None, "data": "Shirt"},
                                  {"locale": "de_DE", "scope": "print", "data": "x"}]}}  # fmt: skip
    assert payload_values.read(akeneo, "name", "ecommerce") == {"en_US": "Shirt"}
    flat = {"name": {"en_US": "Shirt", "de_DE": "Hemd"}, "price": [{"amount": "1"}]}
    assert payload_values.read(flat, "name", None) == {"en_US": "Shirt", "de_DE": "Hemd"}
    assert payload_values.read(flat, "price", None) == {None: [{"amount": "1"}]}
    listed = {"attributes": [{"code": "fit", "locale": "en_US", "scope": None, "value": "slim"}]}
    assert payload_values.read(listed, "fit", None) == {"en_US": "slim"}
    assert payload_values.changed_fields(["values.name.en_US", "price", "name.de_DE"]) == {
        "name",
        "price",
    }


def test_product_bodies_split_locales_convert_values_and_send_only_changed_fields() -> None:
    shape = ProductShape(DEFAULT_FIELD_MAP, Locales("en_US", {"de_DE": "de"}), None, "EUR")
    payload = {
        "sku": "S1",
        "name": {"en_US": "Shirt", "de_DE": "Hemd", "fr_FR": "Chemise"},
        "price": [{"currency": "USD", "amount": "2"}, {"currency": "EUR", "amount": "1.50"}],
        "enabled": False,
        "stock": 3,
        "visibility": "catalog_search",
    }
    full = bodies.product_bodies(
        "S1", payload, shape, fields=None, attribute_set_id=9, category_ids=["5"],
        website_ids=[1], custom={"colour": {None: "231"}}, url_key="shirt-s1",
    )  # fmt: skip
    product = full.admin["product"]
    assert product["name"] == "Shirt"
    assert product["price"] == 1.5
    assert product["status"] == 2
    assert product["visibility"] == 4
    assert product["extension_attributes"] == {
        "stock_item": {"qty": 3.0, "is_in_stock": True},
        "website_ids": [1],
        "category_links": [{"category_id": "5", "position": 0}],
    }
    assert {"attribute_code": "url_key", "value": "shirt-s1"} in product["custom_attributes"]
    assert {"attribute_code": "colour", "value": "231"} in product["custom_attributes"]
    assert full.stores == {"de": {"product": {"sku": "S1", "name": "Hemd"}}}  # fr has no store
    changed = bodies.product_bodies(
        "S1", payload, shape, fields={"stock"}, attribute_set_id=None, category_ids=None,
        website_ids=None, custom={}, url_key=None,
    )  # fmt: skip
    assert changed.admin == {
        "product": {"sku": "S1", "extension_attributes": {"stock_item": {"qty": 3.0,
                                                                         "is_in_stock": True}}}
    }  # fmt: skip
    assert changed.stores == {}


def test_attribute_codes_and_inputs() -> None:
    assert bodies.attribute_code("Color-1") == "color_1"
    assert bodies.attribute_code("1st", "pim_") == "pim_1st"
    assert bodies.attribute_code("9x") == "a_9x"
    with pytest.raises(ValueError, match="no valid Magento form"):
        bodies.attribute_code("---")
    assert bodies.frontend_input("pim_catalog_simpleselect") == "select"
    assert bodies.frontend_input("number") == "text"
    options = bodies.option_specs(
        {"options": [{"code": "red", "labels": {"en_US": "Red", "de_DE": "Rot"}}]},
        Locales("en_US", {"de_DE": "de"}),
        {"de": 2},
    )
    assert options[0].body() == {
        "label": "Red",
        "sort_order": 10,
        "is_default": False,
        "store_labels": [{"store_id": 2, "label": "Rot"}],
    }


def _operation(op_id: int, sku: str | None, status: int = 1) -> dict[str, Any]:
    body = {"product": {"sku": sku}} if sku is not None else {"unexpected": True}
    request = {"entity_id": None, "entity_link": "", "meta_information": json.dumps(body)}
    return {"id": op_id, "status": status, "result_message": "", "serialized_data":
            json.dumps(request)}  # fmt: skip


def test_bulk_operations_are_matched_by_index_only_when_the_ids_are_the_indexes() -> None:
    ops = [_operation(2, "C"), _operation(0, "A")]
    assert bulk_results.by_index([0, 2], ops) == {0: ops[1], 2: ops[0]}
    assert bulk_results.by_index([0, 1], [_operation(77, "A"), _operation(78, "B")]) is None
    assert bulk_results.by_index([0, 1], [_operation(0, "A")]) is None  # one not listed yet


def test_bulk_operations_with_row_ids_are_matched_by_the_request_they_ran() -> None:
    skus = ["A", "B", "A", "C"]
    # Row ids in request order but listed shuffled; two bodies share SKU "A"; "C" refused.
    ops = [_operation(80, "A"), _operation(79, "B", 3), _operation(78, "A")]
    matched = bulk_results.by_request([0, 1, 2], skus, ops)
    assert {i: op["id"] for i, op in matched.items()} == {0: 78, 1: 79, 2: 80}


def test_bulk_operations_whose_request_is_unreadable_fall_back_to_id_order() -> None:
    skus = ["A", "B", "C"]
    ops = [_operation(12, None), _operation(10, "B"), _operation(11, None)]
    matched = bulk_results.by_request([0, 1, 2], skus, ops)
    assert {i: op["id"] for i, op in matched.items()} == {0: 11, 1: 10, 2: 12}
    # Counts that disagree leave the unreadable ones unmatched rather than guessing.
    partial = bulk_results.by_request([0, 1, 2], skus, ops[:2])
    assert {i: op["id"] for i, op in partial.items()} == {1: 10}
    assert bulk_results.request_sku({"serialized_data": "not json"}) is None
