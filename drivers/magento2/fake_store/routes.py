"""The fake store's route handlers: one per (method, schema path) it implements.

Each handler gets a `Call` (path values, query, JSON body, the store view of the URL) and
returns the response body or raises `MagentoError`. `ROUTES` maps ``(METHOD, template)`` to
the handler; templates are the schema's, so the dispatch cannot drift from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from drivers.magento2.fake_store.bulk import BulkOperations
from drivers.magento2.fake_store.catalog import Catalog
from drivers.magento2.fake_store.eav import Eav
from drivers.magento2.fake_store.errors import MagentoError, not_found
from drivers.magento2.fake_store.search import SearchCriteria

__all__ = ["ROUTES", "Call", "Handler", "StoreView"]


@dataclass(frozen=True, slots=True)
class StoreView:
    id: int
    code: str
    name: str
    website_id: int = 1
    store_group_id: int = 1

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "code": self.code, "name": self.name,
                "website_id": self.website_id, "store_group_id": self.store_group_id,
                "is_active": 1}  # fmt: skip


@dataclass
class Call:
    """One request as the handlers see it."""

    catalog: Catalog
    eav: Eav
    bulk: BulkOperations
    store_id: int
    store_views: tuple[StoreView, ...]
    path: Mapping[str, str]
    query: list[tuple[str, str]]
    body: Any
    pause: Callable[[], Awaitable[None]]
    """Waits the injected latency (once); product saves call it between lookup and write."""
    meta: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Call], Awaitable[Any]]
ROUTES: dict[tuple[str, str], Handler] = {}


def _route(method: str, template: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES[(method, template)] = handler
        return handler

    return register


def _int(value: str) -> int:
    return int(value.strip())


# -- stores ---------------------------------------------------------------------------------
@_route("GET", "/V1/store/storeViews")
async def _store_views(call: Call) -> Any:
    return [view.json() for view in call.store_views]


# -- products -------------------------------------------------------------------------------
async def _save_product(call: Call, sku_from_path: str | None) -> Any:
    data = dict(call.body["product"])
    if sku_from_path is not None and "saveOptions" not in call.body:
        data["sku"] = sku_from_path  # ParamsOverrider: the path's SKU wins
    existing = call.catalog.find_product(str(data.get("sku", "")))
    await call.pause()  # the SELECT and the INSERT are not atomic (no unique SKU)
    product = call.catalog.save_product(data, call.store_id, existing)
    call.meta["created"] = existing is None
    return call.catalog.product_json(product, call.store_id)


@_route("POST", "/V1/products")
async def _post_product(call: Call) -> Any:
    return await _save_product(call, None)


@_route("PUT", "/V1/products/{sku}")
async def _put_product(call: Call) -> Any:
    return await _save_product(call, call.path["sku"])


@_route("GET", "/V1/products/{sku}")
async def _get_product(call: Call) -> Any:
    return call.catalog.product_json(call.catalog.require_product(call.path["sku"]), call.store_id)


@_route("DELETE", "/V1/products/{sku}")
async def _delete_product(call: Call) -> Any:
    call.catalog.delete_product(call.path["sku"])
    return True


@_route("GET", "/V1/products")
async def _search_products(call: Call) -> Any:
    items = [call.catalog.product_json(p, call.store_id) for p in call.catalog.products]
    return SearchCriteria.parse(call.query).apply(items)


# -- categories -----------------------------------------------------------------------------
@_route("POST", "/V1/categories")
async def _post_category(call: Call) -> Any:
    category = call.catalog.create_category(call.body["category"], call.store_id)
    call.meta["created"] = True
    return call.catalog.category_json(category, call.store_id)


@_route("PUT", "/V1/categories/{id}")
async def _put_category(call: Call) -> Any:
    category = call.catalog.update_category(
        _int(call.path["id"]), call.body["category"], call.store_id
    )
    return call.catalog.category_json(category, call.store_id)


@_route("GET", "/V1/categories/{categoryId}")
async def _get_category(call: Call) -> Any:
    category = call.catalog.require_category(_int(call.path["categoryId"]))
    return call.catalog.category_json(category, call.store_id)


@_route("DELETE", "/V1/categories/{categoryId}")
async def _delete_category(call: Call) -> Any:
    call.catalog.delete_category(_int(call.path["categoryId"]))
    return True


@_route("PUT", "/V1/categories/{categoryId}/move")
async def _move_category(call: Call) -> Any:
    call.catalog.move_category(_int(call.path["categoryId"]), int(call.body["parentId"]))
    return True


@_route("GET", "/V1/categories/list")
async def _search_categories(call: Call) -> Any:
    items = [call.catalog.category_json(c, call.store_id) for c in call.catalog.categories.values()]
    return SearchCriteria.parse(call.query).apply(items)


# -- attributes -----------------------------------------------------------------------------
@_route("GET", "/V1/products/attributes")
async def _search_attributes(call: Call) -> Any:
    items = [call.eav.attribute_json(a) for a in call.eav.attributes.values()]
    return SearchCriteria.parse(call.query).apply(items)


@_route("POST", "/V1/products/attributes")
async def _post_attribute(call: Call) -> Any:
    existed = call.eav.attribute(str(call.body["attribute"].get("attribute_code", "")))
    attribute = call.eav.save_attribute(call.body["attribute"])
    call.meta["created"] = existed is None
    return call.eav.attribute_json(attribute)


@_route("GET", "/V1/products/attributes/{attributeCode}")
async def _get_attribute(call: Call) -> Any:
    return call.eav.attribute_json(call.eav.require_attribute(call.path["attributeCode"]))


@_route("PUT", "/V1/products/attributes/{attributeCode}")
async def _put_attribute(call: Call) -> Any:
    attribute = call.eav.save_attribute(call.body["attribute"], call.path["attributeCode"])
    return call.eav.attribute_json(attribute)


@_route("DELETE", "/V1/products/attributes/{attributeCode}")
async def _delete_attribute(call: Call) -> Any:
    call.eav.delete_attribute(call.path["attributeCode"])
    return True


@_route("GET", "/V1/products/attributes/{attributeCode}/options")
async def _get_options(call: Call) -> Any:
    return call.eav.options_json(call.eav.require_attribute(call.path["attributeCode"]))


@_route("POST", "/V1/products/attributes/{attributeCode}/options")
async def _post_option(call: Call) -> Any:
    return str(call.eav.add_option(call.path["attributeCode"], call.body["option"]))


@_route("PUT", "/V1/products/attributes/{attributeCode}/options/{optionId}")
async def _put_option(call: Call) -> Any:
    option_id = _int(call.path["optionId"])
    call.eav.update_option(call.path["attributeCode"], option_id, call.body["option"])
    return True


@_route("DELETE", "/V1/products/attributes/{attributeCode}/options/{optionId}")
async def _delete_option(call: Call) -> Any:
    call.eav.delete_option(call.path["attributeCode"], call.path["optionId"])
    return True


# -- attribute sets and groups --------------------------------------------------------------
@_route("POST", "/V1/products/attribute-sets")
async def _post_set(call: Call) -> Any:
    attribute_set = call.eav.create_set(call.body["attributeSet"], int(call.body["skeletonId"]))
    call.meta["created"] = True
    return call.eav.set_json(attribute_set)


@_route("GET", "/V1/products/attribute-sets/{attributeSetId}")
async def _get_set(call: Call) -> Any:
    return call.eav.set_json(call.eav.require_set(_int(call.path["attributeSetId"])))


@_route("PUT", "/V1/products/attribute-sets/{attributeSetId}")
async def _put_set(call: Call) -> Any:
    set_id = _int(call.path["attributeSetId"])
    return call.eav.set_json(call.eav.update_set(set_id, call.body["attributeSet"]))


@_route("DELETE", "/V1/products/attribute-sets/{attributeSetId}")
async def _delete_set(call: Call) -> Any:
    set_id = _int(call.path["attributeSetId"])
    call.eav.delete_set(set_id)
    call.catalog.delete_products_in_set(set_id)  # Magento issue 36708: products go too
    return True


@_route("GET", "/V1/products/attribute-sets/sets/list")
async def _search_sets(call: Call) -> Any:
    items = [call.eav.set_json(s) for s in call.eav.sets.values()]
    return SearchCriteria.parse(call.query).apply(items)


@_route("POST", "/V1/products/attribute-sets/groups")
async def _post_group(call: Call) -> Any:
    return call.eav.group_json(call.eav.create_group(call.body["group"]))


@_route("GET", "/V1/products/attribute-sets/groups/list")
async def _search_groups(call: Call) -> Any:
    items = [call.eav.group_json(g) for g in call.eav.groups.values()]
    return SearchCriteria.parse(call.query).apply(items)


@_route("POST", "/V1/products/attribute-sets/attributes")
async def _assign(call: Call) -> Any:
    body = call.body
    return call.eav.assign(
        int(body["attributeSetId"]), int(body["attributeGroupId"]), str(body["attributeCode"])
    )


@_route("GET", "/V1/products/attribute-sets/{attributeSetId}/attributes")
async def _set_attributes(call: Call) -> Any:
    attribute_set = call.eav.require_set(_int(call.path["attributeSetId"]))
    return [call.eav.attribute_json(call.eav.attributes[c]) for c in attribute_set.members]


@_route("DELETE", "/V1/products/attribute-sets/{attributeSetId}/attributes/{attributeCode}")
async def _unassign(call: Call) -> Any:
    call.eav.unassign(_int(call.path["attributeSetId"]), call.path["attributeCode"])
    return True


# -- the asynchronous bulk API's status -------------------------------------------------------
@_route("GET", "/V1/bulk/{bulkUuid}/status")
async def _bulk_status(call: Call) -> Any:
    status = call.bulk.status(call.path["bulkUuid"])
    if status is None:
        raise not_found("Bulk uuid %1 not exist", call.path["bulkUuid"])
    return status


@_route("GET", "/V1/bulk/{bulkUuid}/detailed-status")
async def _bulk_detailed_status(call: Call) -> Any:
    status = call.bulk.status(call.path["bulkUuid"], detailed=True)
    if status is None:
        raise not_found("Bulk uuid %1 not exist", call.path["bulkUuid"])
    return status


def unsupported(template: str) -> MagentoError:
    return MagentoError(400, "The fake Magento store does not implement %1", [template])
