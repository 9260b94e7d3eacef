"""IEC payloads → Magento request bodies, following the research notes' §11 (pure logic).

Nothing here does I/O: the handlers resolve references (attribute set, category ids, option
ids) first and pass them in. Global values go in the admin-scope body (written through
``/rest/all``); each locale with a store view gets its own body for ``/rest/<store code>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from drivers.magento2 import payload_values as pv
from drivers.magento2.payload_values import Localized

__all__ = [
    "TOP_LEVEL_PRODUCT_FIELDS",
    "Locales",
    "OptionSpec",
    "ProductShape",
    "ScopedBodies",
    "attribute_body",
    "attribute_code",
    "category_body",
    "convert",
    "frontend_input",
    "option_specs",
    "product_bodies",
    "set_body",
]

TOP_LEVEL_PRODUCT_FIELDS = frozenset({"name", "price", "status", "visibility", "weight"})
_VISIBILITY = {"not_visible": 1, "none": 1, "catalog": 2, "search": 3, "catalog_search": 4,
               "both": 4}  # fmt: skip
_INPUTS = {
    "select": "select", "simpleselect": "select", "multiselect": "multiselect",
    "text": "text", "identifier": "text", "number": "text", "metric": "text",
    "textarea": "textarea", "boolean": "boolean", "date": "date",
    "price": "price", "price_collection": "price", "image": "media_image",
}  # fmt: skip
_CODE_MAX = 30


@dataclass(frozen=True, slots=True)
class Locales:
    """Which locale goes where: the default locale to admin scope, others to store views."""

    default: str
    stores: Mapping[str, str] = field(default_factory=dict)
    """Locale → store view code."""

    def split(self, value: Localized, *, fallback: bool = False) -> tuple[Any, dict[str, Any]]:
        """(admin value or None, store code → value). With `fallback`, a value without an
        admin one takes the first locale's (a product needs a name)."""
        admin = value.get(None, value.get(self.default))
        if admin is None and fallback and value:
            admin = next(iter(value.values()))
        stores = {
            self.stores[locale]: v
            for locale, v in value.items()
            if locale is not None and locale != self.default and locale in self.stores
        }
        return admin, stores


@dataclass(frozen=True, slots=True)
class ScopedBodies:
    admin: dict[str, Any]
    stores: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProductShape:
    """What the product mapping needs from the configuration."""

    field_map: Mapping[str, str]
    locales: Locales
    channel: str | None
    currency: str


def _amount(value: Any, currency: str) -> float | None:
    if isinstance(value, list):
        amounts = [v for v in value if isinstance(v, Mapping)]
        chosen = next((v for v in amounts if v.get("currency") == currency), None)
        value = chosen or (amounts[0] if amounts else None)
    if isinstance(value, Mapping):
        value = value.get("amount")
    try:
        return float(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def convert(magento_code: str, value: Any, currency: str = "EUR") -> Any:
    """An IEC value as Magento takes it for `magento_code`; None if it cannot be sent."""
    if value is None:
        return None
    if magento_code in ("price", "weight", "special_price", "cost"):
        return _amount(value, currency)
    if magento_code == "status":
        if isinstance(value, bool):
            return 1 if value else 2
        return {"enabled": 1, "disabled": 2, "1": 1, "2": 2}.get(str(value).lower())
    if magento_code == "visibility":
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4:
            return value
        return _VISIBILITY.get(str(value).lower())
    if magento_code == "qty":
        amount = _amount(value, currency)
        return None if amount is None else amount
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    return value if isinstance(value, str) else None


def product_bodies(
    sku: str,
    payload: Mapping[str, Any],
    shape: ProductShape,
    *,
    fields: set[str] | None,
    attribute_set_id: int | None,
    category_ids: list[str] | None,
    website_ids: list[int] | None,
    custom: Mapping[str, Localized],
    url_key: str | None,
) -> ScopedBodies:
    """The admin body and per-store bodies of a product save.

    `fields` limits the IEC fields sent (None: all); `custom` holds the values of IEC
    attributes by Magento code, already converted (option ids); `category_ids` None leaves
    the product's categories alone; `attribute_set_id`/`website_ids` None leave them too.
    """
    admin: dict[str, Any] = {"sku": sku}
    stores: dict[str, dict[str, Any]] = {}
    extension: dict[str, Any] = {}
    customs: dict[str, Any] = {}

    def put(code: str, value: Localized, *, fallback: bool = False) -> None:
        admin_value, store_values = shape.locales.split(value, fallback=fallback)
        admin_value = convert(code, admin_value, shape.currency)
        if code == "qty":
            if admin_value is not None:
                extension["stock_item"] = {"qty": admin_value, "is_in_stock": admin_value > 0}
            return
        if admin_value is not None:
            if code in TOP_LEVEL_PRODUCT_FIELDS:
                admin[code] = admin_value
            else:
                customs[code] = admin_value
        for store, raw in store_values.items():
            converted = convert(code, raw, shape.currency)
            if converted is None:
                continue
            body = stores.setdefault(store, {"sku": sku})
            if code in TOP_LEVEL_PRODUCT_FIELDS:
                body[code] = converted
            else:
                body.setdefault("custom_attributes", []).append(
                    {"attribute_code": code, "value": converted}
                )

    for iec_field, code in shape.field_map.items():
        if (fields is not None and iec_field not in fields) or code == "url_key":
            continue
        value = pv.read(payload, iec_field, shape.channel)
        if value is not None:
            put(code, value, fallback=code == "name")
    for code, value in custom.items():
        put(code, value)
    if url_key is not None:
        customs["url_key"] = url_key
    if attribute_set_id is not None:
        admin["attribute_set_id"] = attribute_set_id
        admin["type_id"] = "simple"
    if website_ids is not None:
        extension["website_ids"] = list(website_ids)
    if category_ids is not None:
        extension["category_links"] = [
            {"category_id": cid, "position": i} for i, cid in enumerate(category_ids)
        ]
    if extension:
        admin["extension_attributes"] = extension
    if customs:
        admin["custom_attributes"] = [{"attribute_code": k, "value": v} for k, v in customs.items()]
    return ScopedBodies(
        {"product": admin}, {store: {"product": body} for store, body in stores.items()}
    )


# -- attributes ------------------------------------------------------------------------------
def attribute_code(iec_code: str, prefix: str = "") -> str:
    """A valid Magento attribute code for an IEC code (ValueError if there is none)."""
    code = re.sub(r"[^a-z0-9_]+", "_", f"{prefix}{iec_code}".lower()).strip("_")
    if code and not code[0].isalpha():
        code = f"a_{code}"
    code = code[:_CODE_MAX].rstrip("_")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", code):
        raise ValueError(f"the attribute code {iec_code!r} has no valid Magento form")
    return code


def frontend_input(iec_type: Any) -> str:
    """Magento's ``frontend_input`` for an IEC attribute type (``pim_catalog_*`` too)."""
    kind = str(iec_type or "text").lower().removeprefix("pim_catalog_")
    return _INPUTS.get(kind, "text")


@dataclass(frozen=True, slots=True)
class OptionSpec:
    code: str
    label: str
    store_labels: tuple[tuple[int, str], ...] = ()
    sort_order: int = 0

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "sort_order": self.sort_order,
                               "is_default": False}  # fmt: skip
        if self.store_labels:
            out["store_labels"] = [{"store_id": s, "label": t} for s, t in self.store_labels]
        return out


def _store_labels(
    labels: Localized, locales: Locales, store_ids: Mapping[str, int]
) -> list[tuple[int, str]]:
    _admin, per_store = locales.split(labels)
    return [(store_ids[s], str(t)) for s, t in per_store.items() if s in store_ids]


def option_specs(
    payload: Mapping[str, Any], locales: Locales, store_ids: Mapping[str, int]
) -> list[OptionSpec]:
    """The attribute's options (``options: [{"code", "labels"}]``), in payload order."""
    out: list[OptionSpec] = []
    options = payload.get("options")
    for i, option in enumerate(options if isinstance(options, list) else ()):
        if not isinstance(option, Mapping) or not pv.text(option, "code"):
            continue
        code = str(pv.text(option, "code"))
        labels = pv.label(option)
        admin, _ = locales.split(labels, fallback=True)
        out.append(
            OptionSpec(
                code,
                str(admin or code),
                tuple(_store_labels(labels, locales, store_ids)),
                (i + 1) * 10,
            )
        )
    return out


def attribute_body(
    code: str,
    payload: Mapping[str, Any],
    locales: Locales,
    store_ids: Mapping[str, int],
    *,
    options: Iterable[OptionSpec] = (),
    create: bool,
) -> dict[str, Any]:
    """``{"attribute": ...}`` for POST (`create`) or PUT; options only on create."""
    labels = pv.label(payload)
    admin_label, _ = locales.split(labels, fallback=True)
    body: dict[str, Any] = {
        "attribute_code": code,
        "default_frontend_label": str(admin_label or pv.text(payload, "code") or code),
        "frontend_labels": [
            {"store_id": s, "label": t} for s, t in _store_labels(labels, locales, store_ids)
        ],
        "scope": "store" if payload.get("localizable") or payload.get("scopable") else "global",
    }
    if create:
        body["frontend_input"] = frontend_input(payload.get("type"))
        body["is_required"] = False
        body["is_user_defined"] = True
        if body["frontend_input"] in ("select", "multiselect"):
            body["options"] = [o.body() for o in options]
    return {"attribute": body}


# -- categories and attribute sets -------------------------------------------------------------
def category_body(
    name: str,
    *,
    parent_id: int | None,
    position: int | None,
    is_active: bool | None,
    url_key: str | None,
    category_id: int | None = None,
) -> dict[str, Any]:
    """``{"category": ...}``; `parent_id` on create only (a PUT cannot move: use /move)."""
    body: dict[str, Any] = {"name": name}
    if category_id is not None:
        body["id"] = category_id
    if parent_id is not None:
        body["parent_id"] = parent_id
    if position is not None:
        body["position"] = position
    if is_active is not None:
        body["is_active"] = is_active
        body["include_in_menu"] = is_active
    if url_key is not None:
        body["custom_attributes"] = [{"attribute_code": "url_key", "value": url_key}]
    return {"category": body}


def set_body(name: str, *, set_id: int | None = None) -> dict[str, Any]:
    """``{"attributeSet": ...}``: for PUT (`set_id`) with ``entity_type_id`` 4, which the
    catalog's set repository demands; for POST without an id, which it refuses."""
    body: dict[str, Any] = {"attribute_set_name": name, "sort_order": 0}
    if set_id is not None:
        body["attribute_set_id"] = set_id
        body["entity_type_id"] = 4
    return {"attributeSet": body}
