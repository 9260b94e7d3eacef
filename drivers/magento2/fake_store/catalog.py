"""`Catalog`: the fake store's products and categories, with Magento's save semantics.

What is modelled, because a driver must cope with it (research notes §3, §4, §8):

* product save is an upsert by SKU (POST on an existing SKU updates, PUT on an unknown one
  creates), and the SKU has no unique constraint: `find_product` and `save_product` are two
  steps, so two overlapping saves of one new SKU create two products, as in Magento;
* values are kept per store id: a write through ``/rest/all`` writes admin values (store 0),
  one through ``/rest/<code>`` that store view's, a create always writes admin values;
* ``url_key`` must be unique per store among products, and among the children of one
  category parent: 400 ``URL key for specified store already exists.``;
* category POST always creates; PUT ignores ``parent_id`` (moving needs ``/move``); a delete
  takes the subtree with it; the root (1) and the default category (2) cannot be deleted;
* ``category_links``, when sent, replace the product's links; an empty
  ``extension_attributes`` keeps them.

Attribute codes a product carries must exist (`Eav` knows them); unknown custom attributes
are dropped silently, as Magento does.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from drivers.magento2.fake_store.eav import Eav
from drivers.magento2.fake_store.errors import MagentoError, not_found

__all__ = ["ADMIN_STORE", "Catalog", "Category", "Product"]

ADMIN_STORE = 0
ROOT_CATEGORY = 1
DEFAULT_CATEGORY = 2
_PRODUCT_FIELDS = ("name", "price", "status", "visibility", "weight")
_CASTS = {"name": str, "price": float, "status": int, "visibility": int, "weight": float}
_STAMP = "2026-01-01 00:00:00"
_URL_KEY_TAKEN = "URL key for specified store already exists."
_REQUIRED_ON_CREATE = (("name", "Product Name"), ("price", "Price"))


@dataclass
class Product:
    id: int
    sku: str
    attribute_set_id: int
    type_id: str = "simple"
    values: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Store id → attribute code → value (store 0: admin scope)."""
    website_ids: list[int] = field(default_factory=list)
    category_links: list[dict[str, Any]] = field(default_factory=list)
    stock: dict[str, Any] = field(default_factory=dict)

    def value(self, code: str, store_id: int = ADMIN_STORE) -> Any:
        """The value a store view shows (its own, else the admin value)."""
        own = self.values.get(store_id, {})
        return own[code] if code in own else self.values.get(ADMIN_STORE, {}).get(code)


@dataclass
class Category:
    id: int
    parent_id: int
    position: int = 0
    is_active: bool = True
    include_in_menu: bool = True
    values: dict[int, dict[str, Any]] = field(default_factory=dict)

    def value(self, code: str, store_id: int = ADMIN_STORE) -> Any:
        own = self.values.get(store_id, {})
        return own[code] if code in own else self.values.get(ADMIN_STORE, {}).get(code)


class Catalog:
    """Products by SKU (duplicates possible, as in Magento) and the category tree."""

    def __init__(self, eav: Eav, website_ids: tuple[int, ...] = (1,)) -> None:
        self.eav = eav
        self.website_ids = website_ids
        self.products: list[Product] = []
        self._ids = itertools.count(1)
        self._category_ids = itertools.count(3)
        self.categories: dict[int, Category] = {
            ROOT_CATEGORY: Category(ROOT_CATEGORY, 0, values={0: {"name": "Root Catalog"}}),
            DEFAULT_CATEGORY: Category(
                DEFAULT_CATEGORY, ROOT_CATEGORY, values={0: {"name": "Default Category"}}
            ),
        }

    # -- products -------------------------------------------------------------------------
    def find_product(self, sku: str) -> Product | None:
        """The product a SKU lookup finds: the lowest entity id, as Magento's does."""
        return next((p for p in self.products if p.sku == sku), None)

    def require_product(self, sku: str) -> Product:
        product = self.find_product(sku)
        if product is None:
            raise not_found(
                "The product that was requested doesn't exist. Verify the product and try again."
            )
        return product

    def save_product(
        self, data: Mapping[str, Any], store_id: int, existing: Product | None
    ) -> Product:
        """Step two of a save: create (when `existing` is None) or update `existing`."""
        sku = data.get("sku")
        if not isinstance(sku, str) or not sku.strip():
            raise MagentoError(
                400, 'The "%1" attribute value is empty. Set the attribute and try again.', ["sku"]
            )
        if existing is None:
            set_id = int(data.get("attribute_set_id") or self.eav.default_set_id)
            self.eav.require_set(
                set_id, "Invalid product data: %1", "Invalid attribute set entity type"
            )
            product = Product(next(self._ids), sku, set_id, str(data.get("type_id") or "simple"))
            target = {ADMIN_STORE}
        else:
            product = existing
            if "attribute_set_id" in data:
                set_id = int(data["attribute_set_id"])
                self.eav.require_set(
                    set_id, "Invalid product data: %1", "Invalid attribute set entity type"
                )
                product.attribute_set_id = set_id
            target = {store_id}
        if existing is None and store_id != ADMIN_STORE:
            target.add(store_id)
        # Magento casts numeric strings ("12.5") to the attribute's type.
        written: dict[str, Any] = {k: _CASTS[k](data[k]) for k in _PRODUCT_FIELDS if k in data}
        for item in data.get("custom_attributes") or ():
            code = item["attribute_code"]
            if self.eav.attribute(code) is not None:
                written[code] = item["value"]
        if existing is None:
            # EAV's required attributes (is_required): a create without them is refused.
            for code, label in _REQUIRED_ON_CREATE:
                applies = code != "price" or product.type_id in ("simple", "virtual")
                if applies and written.get(code) in (None, ""):
                    raise MagentoError(
                        400, 'The "%1" attribute value is empty. Set the attribute and try again.',
                        [label],
                    )  # fmt: skip
        url_key = written.get("url_key")
        if url_key is not None:
            self._check_product_url_key(str(url_key), product, target)
        extension = data.get("extension_attributes") or {}
        if "website_ids" in extension:
            ids = [int(w) for w in extension["website_ids"]]
            unknown = [w for w in ids if w not in self.website_ids]
            if unknown:
                raise MagentoError(
                    400,
                    "The website with id %1 that was requested wasn't found. Verify the website "
                    "and try again.",
                    [str(unknown[0])],
                )
            product.website_ids = ids
        elif existing is None:
            product.website_ids = list(self.website_ids)
        if "category_links" in extension:
            links = []
            for link in extension["category_links"]:
                category_id = int(link["category_id"])
                if category_id not in self.categories:
                    raise MagentoError(
                        400,
                        'Could not save product "%1" with position %2 to category %3',
                        [sku, str(link.get("position", 0)), str(category_id)],
                    )
                links.append(
                    {"position": int(link.get("position") or 0), "category_id": str(category_id)}
                )
            product.category_links = links
        if "stock_item" in extension:
            product.stock.update(extension["stock_item"])
        for store in target:
            product.values.setdefault(store, {}).update(written)
        if existing is None:
            self.products.append(product)
        return product

    def _check_product_url_key(self, url_key: str, product: Product, stores: set[int]) -> None:
        for other in self.products:
            if other is product:
                continue
            if any(other.value("url_key", s) == url_key for s in stores | {ADMIN_STORE}):
                raise MagentoError(400, _URL_KEY_TAKEN)

    def delete_product(self, sku: str) -> None:
        product = self.require_product(sku)
        self.products.remove(product)

    def product_json(self, product: Product, store_id: int = ADMIN_STORE) -> dict[str, Any]:
        """The product as ``GET /V1/products/{sku}`` returns it."""
        values = {**product.values.get(ADMIN_STORE, {}), **product.values.get(store_id, {})}
        stock = {"item_id": product.id, "product_id": product.id, "stock_id": 1, "qty": 0,
                 "is_in_stock": False, **product.stock}  # fmt: skip
        out: dict[str, Any] = {
            "id": product.id,
            "sku": product.sku,
            "attribute_set_id": product.attribute_set_id,
            "type_id": product.type_id,
            "created_at": _STAMP,
            "updated_at": _STAMP,
        }
        out.update({k: values[k] for k in _PRODUCT_FIELDS if k in values})
        out["extension_attributes"] = {
            "website_ids": list(product.website_ids),
            "category_links": [dict(link) for link in product.category_links],
            "stock_item": stock,
        }
        out.update(product_links=[], options=[], media_gallery_entries=[], tier_prices=[])
        custom = [
            {"attribute_code": k, "value": v} for k, v in values.items() if k not in _PRODUCT_FIELDS
        ]
        if product.category_links:
            custom.append(
                {"attribute_code": "category_ids",
                 "value": [link["category_id"] for link in product.category_links]}
            )  # fmt: skip
        out["custom_attributes"] = custom
        return out

    def delete_products_in_set(self, set_id: int) -> int:
        """Deleting an attribute set deletes its products (Magento issue 36708)."""
        doomed = [p for p in self.products if p.attribute_set_id == set_id]
        for product in doomed:
            self.products.remove(product)
        return len(doomed)

    # -- categories -----------------------------------------------------------------------
    def require_category(self, category_id: int) -> Category:
        category = self.categories.get(category_id)
        if category is None:
            raise not_found("No such entity with %fieldName = %fieldValue")
        return category

    def create_category(self, data: Mapping[str, Any], store_id: int) -> Category:
        parent_id = int(data.get("parent_id") or DEFAULT_CATEGORY)
        if parent_id not in self.categories:
            raise not_found("No such entity with %1 = %2", "id", str(parent_id))
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise MagentoError(
                400,
                "Could not save category: %1",
                ['The "Name" attribute value is empty. Set the attribute and try again.'],
            )
        category = Category(next(self._category_ids), parent_id)
        self._write_category(category, data, {ADMIN_STORE} | ({store_id} - {ADMIN_STORE}))
        self.categories[category.id] = category
        return category

    def update_category(self, category_id: int, data: Mapping[str, Any], store_id: int) -> Category:
        category = self.require_category(category_id)
        # CategoryRepository::save strips parent_id, path and level: moving needs /move.
        self._write_category(category, data, {store_id})
        return category

    def _write_category(
        self, category: Category, data: Mapping[str, Any], stores: set[int]
    ) -> None:
        written: dict[str, Any] = {}
        if "name" in data:
            written["name"] = data["name"]
        for item in data.get("custom_attributes") or ():
            written[item["attribute_code"]] = item["value"]
        url_key = written.get("url_key")
        if url_key is not None:
            for sibling in self.children(category.parent_id):
                if sibling is not category and any(
                    sibling.value("url_key", s) == url_key for s in stores | {ADMIN_STORE}
                ):
                    raise MagentoError(400, "Could not save category: %1", [_URL_KEY_TAKEN])
        for key in ("position", "is_active", "include_in_menu"):
            if key in data:
                setattr(category, key, type(getattr(category, key))(data[key]))
        for store in stores:
            category.values.setdefault(store, {}).update(written)

    def move_category(self, category_id: int, parent_id: int) -> None:
        category = self.require_category(category_id)
        if parent_id not in self.categories:
            raise not_found("No such entity with %1 = %2", "id", str(parent_id))
        if parent_id == category_id or category_id in self.ancestors(parent_id):
            raise MagentoError(
                400, "Operation do not allow to move a parent category to any of children category"
            )
        category.parent_id = parent_id

    def delete_category(self, category_id: int) -> None:
        category = self.require_category(category_id)
        if category_id in (ROOT_CATEGORY, DEFAULT_CATEGORY):
            raise MagentoError(400, "Cannot delete category with id %1", [str(category_id)])
        doomed = {category.id} | self.descendants(category.id)
        for cid in doomed:
            del self.categories[cid]
        for product in self.products:
            product.category_links = [
                link for link in product.category_links if int(link["category_id"]) not in doomed
            ]

    def children(self, parent_id: int) -> list[Category]:
        return [c for c in self.categories.values() if c.parent_id == parent_id]

    def descendants(self, category_id: int) -> set[int]:
        out: set[int] = set()
        todo = [category_id]
        while todo:
            for child in self.children(todo.pop()):
                out.add(child.id)
                todo.append(child.id)
        return out

    def ancestors(self, category_id: int) -> list[int]:
        out: list[int] = []
        current = self.categories.get(category_id)
        while current is not None and current.parent_id:
            out.append(current.parent_id)
            current = self.categories.get(current.parent_id)
        return out

    def category_json(self, category: Category, store_id: int = ADMIN_STORE) -> dict[str, Any]:
        path = [*reversed(self.ancestors(category.id)), category.id]
        values = {**category.values.get(ADMIN_STORE, {}), **category.values.get(store_id, {})}
        return {
            "id": category.id,
            "parent_id": category.parent_id,
            "name": values.get("name", ""),
            "is_active": category.is_active,
            "position": category.position,
            "level": len(path) - 1,
            "children": ",".join(str(c.id) for c in self.children(category.id)),
            "created_at": _STAMP,
            "updated_at": _STAMP,
            "path": "/".join(str(i) for i in path),
            "available_sort_by": [],
            "include_in_menu": category.include_in_menu,
            "custom_attributes": [
                {"attribute_code": k, "value": v} for k, v in values.items() if k != "name"
            ],
        }
