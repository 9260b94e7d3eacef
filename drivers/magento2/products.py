"""Product events → Magento simple products (notes §3, §8, §11).

created/updated, serialised per SKU (overlapping saves of a new SKU duplicate it, §8):

1. Skip a stale mutation (older ``version`` than the mapping's). A SKU that differs from the
   mapped one is refused: Magento cannot rename a SKU through this API safely.
2. Resolve references: the family's attribute set (no family: the default set) and the
   categories, through the mappings; an unmapped one is `DependencyNotReadyError`. Values of
   IEC attributes this integration created go along, option codes as option ids (an option
   code the attribute's mapping lacks is `DependencyNotReadyError` too: the attribute's update
   is behind; a value of a shape the attribute cannot take is logged and not sent).
3. Not mapped: POST at admin scope with every field, an explicit ``url_key``, the website
   ids and the category links. Product save is Magento's upsert by SKU, so a SKU already in
   the store (or created before a crash) is adopted, not duplicated. Mapped: PUT with the
   SKU and only the changed fields (all of them if the event does not say).
4. Persist the mapping (entity id, SKU, version) right after the save.
5. Localized values: one PUT per store view through ``/rest/<store code>``.

deleted: DELETE by SKU (404 counts as done), then the mapping.
"""

from __future__ import annotations

from typing import Any

from contracts import DependencyNotReadyError, MappingData, MutationData, Operation, PermanentError
from drivers.magento2 import payload_values as pv
from drivers.magento2.api import segment
from drivers.magento2.bodies import ProductShape, ScopedBodies, convert, product_bodies
from drivers.magento2.payload_values import Localized
from drivers.magento2.session import Session, data_of, is_stale, version_data
from drivers.magento2.url_keys import product_url_key

__all__ = ["ENTITY", "apply_product", "prepare", "remember"]

ENTITY = "product"
_NOT_VALUES = frozenset(
    {"sku", "family", "categories", "parent", "associations", "created", "updated", "groups",
     "identifier", "uuid", "labels", "label", "images", "values", "attributes"}
)  # fmt: skip


async def apply_product(s: Session, m: MutationData) -> None:
    mapping = await s.mappings.find(ENTITY, m.entity_uuid)
    if is_stale(m, mapping):
        s.logger.info("stale product mutation skipped", extra={"uuid": m.entity_uuid})
        return
    if m.operation is Operation.DELETED:
        await _delete(s, m, mapping)
        return
    prepared = await prepare(s, m, mapping, full=False)
    async with s.locks.hold(prepared.sku):
        # 3. save
        if mapping is None:
            result = await s.api.call("POST", "/products", body=prepared.bodies.admin)
        else:
            path = f"/products/{segment(prepared.sku)}"
            result = await s.api.call("PUT", path, body=prepared.bodies.admin)
        # 4. the mapping
        await remember(s, m, mapping, prepared.sku, result)
        # 5. store views
        for store, body in prepared.bodies.stores.items():
            await s.api.call("PUT", f"/products/{segment(prepared.sku)}", store=store, body=body)


class Prepared:
    def __init__(self, sku: str, bodies: ScopedBodies) -> None:
        self.sku = sku
        self.bodies = bodies


async def prepare(
    s: Session, m: MutationData, mapping: MappingData | None, *, full: bool
) -> Prepared:
    """Steps 1-2: the SKU and the request bodies (`full`: every field, as for a create)."""
    payload = m.payload
    sku = pv.text(payload, "sku")
    if sku is None:
        raise PermanentError(f"product {m.entity_uuid}: the payload has no sku")
    mapped_sku = data_of(mapping).get("sku") if mapping else None
    if mapped_sku not in (None, sku):
        raise PermanentError(
            f"product {m.entity_uuid}: its SKU changed from {mapped_sku!r} to {sku!r}; the "
            "driver does not rename SKUs (Magento keys products by SKU): rename it in Magento"
        )
    creating = mapping is None or full
    fields = None if creating or not m.changed_fields else pv.changed_fields(m.changed_fields)

    def wanted(name: str) -> bool:
        return fields is None or name in fields

    set_id = await _attribute_set(s, m) if wanted("family") else None
    category_ids = await _category_ids(s, m) if wanted("categories") else None
    custom = await _custom_values(s, payload, fields)
    url_key: str | None = None
    if creating or wanted("url_key"):
        name, _stores = s.locales.split(
            pv.read(payload, "name", s.config.channel) or {}, fallback=True
        )
        given = pv.read(payload, "url_key", s.config.channel)
        given_key, _ = s.locales.split(given or {}, fallback=True)
        url_key = product_url_key(sku, str(name) if name else None,
                                  str(given_key) if given_key else None)  # fmt: skip
    shape = ProductShape(s.config.field_map, s.locales, s.config.channel, s.config.price_currency)
    bodies = product_bodies(
        sku, payload, shape, fields=fields, attribute_set_id=set_id, category_ids=category_ids,
        website_ids=list(s.config.website_ids) if creating else None, custom=custom,
        url_key=url_key,
    )  # fmt: skip
    return Prepared(sku, bodies)


async def remember(
    s: Session, m: MutationData, mapping: MappingData | None, sku: str, result: Any
) -> None:
    """Step 4: record entity id, SKU and version (only when they changed)."""
    product_id = str(result["id"]) if isinstance(result, dict) and "id" in result else None
    external_id = product_id or (mapping.external_id if mapping else sku)
    data = {"sku": sku, **version_data(m)}
    if mapping is None or mapping.external_id != external_id or mapping.external_data != data:
        await s.mappings.save(ENTITY, m.entity_uuid, external_id, data, None)


async def _attribute_set(s: Session, m: MutationData) -> int:
    family = pv.reference(m.payload, "family")
    if family is None:
        return s.config.default_attribute_set_id
    mapping = await s.mappings.resolve("family", family)
    if mapping is None:
        raise DependencyNotReadyError(
            f"product {m.entity_uuid}: its family {family!r} is not in Magento yet",
            entity_type="family",
            entity_uuid=family,
        )
    return int(mapping.external_id)


async def _category_ids(s: Session, m: MutationData) -> list[str] | None:
    refs = pv.references(m.payload, "categories")
    if refs is None:
        return None
    found = await s.mappings.resolve_many("category", refs)
    missing = [r for r in refs if r not in found]
    if missing:
        raise DependencyNotReadyError(
            f"product {m.entity_uuid}: categories {missing} are not in Magento yet",
            entity_type="category",
            entity_uuid=missing[0],
        )
    return [found[r].external_id for r in refs]


async def _custom_values(s: Session, payload: Any, fields: set[str] | None) -> dict[str, Localized]:
    """Values of IEC attributes mapped by this integration, by Magento code."""
    candidates = [
        f for f in dict.fromkeys(pv.value_fields(payload))
        if f not in _NOT_VALUES and f not in s.config.field_map and (fields is None or f in fields)
    ]  # fmt: skip
    if not candidates:
        return {}
    found = await s.mappings.resolve_many("attribute", candidates)
    out: dict[str, Localized] = {}
    for field in candidates:
        mapping = found.get(field)
        value = pv.read(payload, field, s.config.channel)
        if mapping is None or value is None:
            continue
        data = data_of(mapping)
        kind = data.get("frontend_input")
        converted: Localized = {}
        for locale, raw in value.items():
            if raw is None:
                continue
            if kind == "select":
                converted[locale] = _option_id(data, field, raw)
            elif kind == "multiselect" and isinstance(raw, list):
                converted[locale] = ",".join(str(_option_id(data, field, v)) for v in raw)
            else:
                converted[locale] = convert(mapping.external_id, raw, s.config.price_currency)
                if converted[locale] is None:
                    s.logger.warning(
                        "product value not sent: Magento attribute %s takes no %s",
                        mapping.external_id, type(raw).__name__,
                    )  # fmt: skip
        out[mapping.external_id] = {k: v for k, v in converted.items() if v is not None}
    return {k: v for k, v in out.items() if v}


def _option_id(attribute: dict[str, Any], field: str, code: Any) -> Any:
    """The option id of `code` in a mapped select attribute; an option the attribute's
    mapping does not have yet (its update is still on the way) is a dependency to wait for."""
    option = (attribute.get("options") or {}).get(str(code))
    if option is None:
        raise DependencyNotReadyError(
            f"attribute {field!r} has no option {str(code)!r} in Magento yet",
            entity_type="attribute",
            entity_uuid=str(attribute.get("uuid") or field),
        )
    return option


async def _delete(s: Session, m: MutationData, mapping: MappingData | None) -> None:
    sku = data_of(mapping).get("sku") if mapping else None
    sku = sku if isinstance(sku, str) else pv.text(m.payload, "sku")
    if sku is None:
        return  # never mapped and no SKU: nothing to delete
    async with s.locks.hold(sku):
        await s.api.call("DELETE", f"/products/{segment(sku)}", accept=(404,))
        if mapping is not None:
            await s.mappings.forget(ENTITY, m.entity_uuid, None)
