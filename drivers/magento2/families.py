"""Family events → Magento attribute sets, with a group for our attributes (notes §6, §11).

created/updated:

1. Mapped: PUT the set's name (with ``entity_type_id`` 4, which Magento demands). A set gone
   from the store (404) is made again (step 2).
2. Not mapped: look the set up by its name (``attribute_set_name``, e.g. "PIM Shirts
   (shirts)") and adopt it, else POST it as a copy of ``default_attribute_set_id`` (the
   skeleton brings name, price, status, …). Persist the mapping at once.
3. Ensure the group ``attribute_group_name`` in the set (looked up before it is created).
4. Assign the family's attributes that this integration created to that group. Attributes
   Magento already has in every set (sku, name, price, … and the field map's targets) are
   skipped; an IEC attribute not mapped yet is `DependencyNotReadyError` (retried after the
   attribute event). Attributes dropped from the family stay assigned: unassigning deletes
   their values on the set's products.

deleted: refused (dead-lettered with the reason) unless ``allow_destructive_deletes``:
deleting an attribute set deletes every product in it.
"""

from __future__ import annotations

from typing import Any

from contracts import DependencyNotReadyError, MappingData, MutationData, Operation, PermanentError
from drivers.magento2 import payload_values as pv
from drivers.magento2.api import segment
from drivers.magento2.bodies import set_body
from drivers.magento2.error_model import NotFoundError
from drivers.magento2.session import Session, data_of, is_stale, version_data

__all__ = ["SYSTEM_ATTRIBUTES", "apply_family"]

ENTITY = "family"
SYSTEM_ATTRIBUTES = frozenset(
    {"sku", "name", "description", "short_description", "price", "weight", "status",
     "visibility", "url_key", "meta_title", "meta_keyword", "meta_description", "tax_class_id",
     "image", "small_image", "thumbnail", "special_price", "news_from_date", "category_ids",
     "quantity_and_stock_status", "country_of_manufacture"}
)  # fmt: skip


async def apply_family(s: Session, m: MutationData) -> None:
    mapping = await s.mappings.find(ENTITY, m.entity_uuid)
    if is_stale(m, mapping):
        s.logger.info("stale family mutation skipped", extra={"uuid": m.entity_uuid})
        return
    known: dict[str, Any] = data_of(mapping)
    if m.operation is Operation.DELETED:
        await _delete(s, m, mapping, known)
        return
    code = pv.text(m.payload, "code") or known.get("code") or m.entity_uuid
    admin_label, _ = s.locales.split(pv.label(m.payload), fallback=True)
    name = s.config.attribute_set_name.format(label=admin_label or code, code=code)
    set_id: int | None = None
    # 1. mapped: rename
    if mapping is not None:
        set_id = int(mapping.external_id)
        try:
            if known.get("name") != name:
                body = set_body(name, set_id=set_id)
                await s.api.call("PUT", f"/products/attribute-sets/{set_id}", body=body)
        except NotFoundError:
            set_id, known = None, {}
    # 2. not mapped: adopt or create
    if set_id is None:
        found = await s.api.search(
            "/products/attribute-sets/sets/list", {"attribute_set_name": name}
        )
        if found:
            set_id = int(found[0]["attribute_set_id"])
        else:
            body = {**set_body(name), "skeletonId": s.config.default_attribute_set_id}
            created = await s.api.call("POST", "/products/attribute-sets", body=body)
            set_id = int(created["attribute_set_id"])
        known = {"code": code, "name": name, **version_data(m)}
        await s.mappings.save(ENTITY, m.entity_uuid, str(set_id), known, code)
    # 3. the group
    group_id = known.get("group_id") or await _ensure_group(s, set_id)
    # 4. assignments
    assigned = set(known.get("assigned") or ())
    for attribute_code in await _attribute_codes(s, m):
        if attribute_code in assigned:
            continue
        await s.api.call(
            "POST",
            "/products/attribute-sets/attributes",
            body={"attributeSetId": set_id, "attributeGroupId": group_id,
                  "attributeCode": attribute_code, "sortOrder": 10 * (len(assigned) + 1)},
        )  # fmt: skip
        assigned.add(attribute_code)
    data = {"code": code, "name": name, "group_id": group_id, "assigned": sorted(assigned),
            **version_data(m)}  # fmt: skip
    if data != known:
        await s.mappings.save(ENTITY, m.entity_uuid, str(set_id), data, code)


async def _ensure_group(s: Session, set_id: int) -> int:
    group_name = s.config.attribute_group_name
    found = await s.api.search(
        "/products/attribute-sets/groups/list",
        {"attribute_set_id": set_id, "attribute_group_name": group_name},
    )
    if found:
        return int(found[0]["attribute_group_id"])
    body = {"group": {"attribute_group_name": group_name, "attribute_set_id": set_id}}
    created = await s.api.call("POST", "/products/attribute-sets/groups", body=body)
    return int(created["attribute_group_id"])


async def _attribute_codes(s: Session, m: MutationData) -> list[str]:
    """Magento codes of the family's attributes to assign (see step 4)."""
    listed = pv.references(m.payload, "attributes") or []
    skip = SYSTEM_ATTRIBUTES | set(s.config.field_map) | set(s.config.field_map.values())
    wanted = [c for c in listed if c not in skip]
    found = await s.mappings.resolve_many("attribute", wanted)
    missing = [c for c in wanted if c not in found]
    if missing:
        raise DependencyNotReadyError(
            f"family {m.entity_uuid}: attributes {missing} are not in Magento yet",
            entity_type="attribute",
            entity_uuid=missing[0],
        )
    return [found[c].external_id for c in wanted]


async def _delete(
    s: Session, m: MutationData, mapping: MappingData | None, known: dict[str, Any]
) -> None:
    if mapping is None:
        return
    if not s.config.allow_destructive_deletes:
        raise PermanentError(
            f"attribute set {mapping.external_id} was not deleted: deleting a Magento attribute "
            "set deletes every product in it. Move its products and delete it in Magento, or "
            "set allow_destructive_deletes: true and replay this dead letter."
        )
    await s.api.call(
        "DELETE", f"/products/attribute-sets/{segment(mapping.external_id)}", accept=(404,)
    )
    code = known.get("code")
    await s.mappings.forget(ENTITY, m.entity_uuid, code if isinstance(code, str) else None)
