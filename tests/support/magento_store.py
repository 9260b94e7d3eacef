"""Helpers for the Magento driver's tests: configuration, seeding, store snapshots."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from contracts.testing import InMemoryMappingService
from drivers.magento2.fake_store import FakeMagento, FakeMagentoServer, StoreCredentials
from drivers.magento2.mappings import alias_type

BEARER = {"Authorization": "Bearer fake-access-token"}


def driver_config(server: FakeMagentoServer, **overrides: Any) -> dict[str, Any]:
    """A configuration for the fake store: OAuth 1.0a with its credentials, two store views."""
    creds = server.store.credentials
    config: dict[str, Any] = {
        "base_url": server.base_url,
        "consumer_key": creds.consumer_key,
        "consumer_secret": creds.consumer_secret,
        "access_token": creds.access_token,
        "access_token_secret": creds.access_token_secret,
        "locale_stores": {"de_DE": "de", "fr_FR": "fr"},
        "request_timeout_s": 5,
    }
    config.update(overrides)
    return config


def store_call(store: FakeMagento, method: str, path: str, body: Any = None) -> Any:
    raw = b"" if body is None else json.dumps(body).encode()
    response = asyncio.run(store.handle(method, f"http://fake{path}", BEARER, raw))
    assert response.status < 300, response.body
    return response.json()


def seed_references(
    store: FakeMagento, mappings: InMemoryMappingService, integration_uuid: str
) -> None:
    """What the test kit's sample payloads reference by code, already in store and mappings:
    categories men, shirts, summer_collection; family clothing; attributes color and size."""
    for code in ("men", "shirts", "summer_collection"):
        created = store_call(store, "POST", "/rest/all/V1/categories",
                             {"category": {"name": code.title()}})  # fmt: skip
        mappings.create(alias_type("category"), code, integration_uuid, str(created["id"]),
                        {"code": code})  # fmt: skip
    set_ = store_call(store, "POST", "/rest/all/V1/products/attribute-sets",
                      {"attributeSet": {"attribute_set_name": "Clothing", "sort_order": 0},
                       "skeletonId": 4})  # fmt: skip
    mappings.create(alias_type("family"), "clothing", integration_uuid,
                    str(set_["attribute_set_id"]), {"code": "clothing"})  # fmt: skip
    for code, values in (("color", ("blue", "red")), ("size", ("s", "m", "l"))):
        created = store_call(store, "POST", "/rest/all/V1/products/attributes", {"attribute": {
            "attribute_code": code, "frontend_input": "select",
            "default_frontend_label": code.title(),
            "options": [{"label": v.title()} for v in values]}})  # fmt: skip
        options = {o["label"].lower(): o["value"] for o in created["options"] if o["value"]}
        mappings.create(alias_type("attribute"), code, integration_uuid, code,
                        {"code": code, "frontend_input": "select", "options": options})  # fmt: skip


def snapshot(store: FakeMagento) -> dict[str, Any]:
    """A comparable copy of everything the store holds."""
    return {
        "products": sorted(
            (
                p.sku,
                p.attribute_set_id,
                json.dumps(p.values, sort_keys=True, default=str),
                json.dumps(p.category_links),
                json.dumps(p.stock, sort_keys=True),
            )
            for p in store.catalog.products
        ),
        "categories": sorted(
            (c.id, c.parent_id, json.dumps(c.values, sort_keys=True))
            for c in store.catalog.categories.values()
        ),
        "attributes": sorted(
            (
                a.code,
                json.dumps(a.data, sort_keys=True, default=str),
                json.dumps(a.options, sort_keys=True, default=str),
            )
            for a in store.eav.attributes.values()
        ),
        "sets": sorted(
            (s.id, s.name, json.dumps(s.members, sort_keys=True)) for s in store.eav.sets.values()
        ),
    }


__all__ = ["BEARER", "StoreCredentials", "driver_config", "seed_references", "snapshot",
           "store_call"]  # fmt: skip
