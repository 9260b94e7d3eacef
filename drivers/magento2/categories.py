"""Category events → Magento categories (notes §4, §11).

created/updated:

1. Resolve the parent through the mappings (no parent: ``root_category_id``); an unmapped
   parent is `DependencyNotReadyError`, so the runtime retries the child after its parent.
2. Mapped: PUT the category (admin scope), and ``PUT …/move`` if the parent changed (a PUT
   cannot move). A category gone from the store (404) is created again (step 3).
3. Not mapped: look it up under its parent by its explicit ``url_key`` (category POST always
   creates, so a replay after a crash, or a category already in the store, is adopted); POST
   only if there is none. Persist the mapping at once.
4. Localized names: one PUT per store view through ``/rest/<store code>``.

deleted: DELETE (Magento deletes the subtree too; 404 counts as done), then the mapping.
"""

from __future__ import annotations

from contracts import DependencyNotReadyError, MappingData, MutationData, Operation
from drivers.magento2 import payload_values as pv
from drivers.magento2.api import segment
from drivers.magento2.bodies import category_body
from drivers.magento2.error_model import NotFoundError
from drivers.magento2.session import Session, data_of, is_stale, version_data
from drivers.magento2.url_keys import category_url_key

__all__ = ["apply_category"]

ENTITY = "category"


async def apply_category(s: Session, m: MutationData) -> None:
    mapping = await s.mappings.find(ENTITY, m.entity_uuid)
    if is_stale(m, mapping):
        s.logger.info("stale category mutation skipped", extra={"uuid": m.entity_uuid})
        return
    if m.operation is Operation.DELETED:
        await _delete(s, m, mapping)
        return
    payload = m.payload
    code = pv.text(payload, "code") or (data_of(mapping).get("code"))
    admin_name, store_names = s.locales.split(pv.label(payload), fallback=True)
    name = str(admin_name or code or m.entity_uuid)
    # 1. the parent
    parent_id = await _parent_id(s, m)
    position = payload.get("position")
    position = position if isinstance(position, int) and not isinstance(position, bool) else None
    active = payload.get("active", payload.get("enabled"))
    is_active = active if isinstance(active, bool) else None
    url_key = category_url_key(code, name, m.entity_uuid)
    category_id: int | None = None
    # 2. mapped: update, move if needed
    if mapping is not None:
        category_id = int(mapping.external_id)
        try:
            await s.api.call(
                "PUT",
                f"/categories/{category_id}",
                body=category_body(name, parent_id=None, position=position,
                                   is_active=is_active, url_key=None, category_id=category_id),
            )  # fmt: skip
        except NotFoundError:
            category_id = None
        else:
            known_parent = data_of(mapping).get("parent_id")
            if known_parent != parent_id:
                await s.api.call(
                    "PUT", f"/categories/{category_id}/move", body={"parentId": parent_id}
                )
    # 3. not mapped: adopt or create, then persist the mapping
    if category_id is None:
        found = await s.api.search("/categories/list", {"parent_id": parent_id, "url_key": url_key})
        body = category_body(name, parent_id=parent_id, position=position,
                             is_active=is_active, url_key=url_key)  # fmt: skip
        if found:
            category_id = int(found[0]["id"])
            body["category"].pop("parent_id")
            body["category"]["id"] = category_id
            await s.api.call("PUT", f"/categories/{category_id}", body=body)
        else:
            created = await s.api.call("POST", "/categories", body=body)
            category_id = int(created["id"])
    data = {"parent_id": parent_id, "url_key": url_key, "code": code, **version_data(m)}
    if mapping is None or mapping.external_id != str(category_id) or mapping.external_data != data:
        await s.mappings.save(ENTITY, m.entity_uuid, str(category_id), data, code)
    # 4. localized names
    for store, store_name in store_names.items():
        body = {"category": {"id": category_id, "name": str(store_name)}}
        await s.api.call("PUT", f"/categories/{category_id}", store=store, body=body)


async def _parent_id(s: Session, m: MutationData) -> int:
    reference = pv.reference(m.payload, "parent")
    if reference is None:
        return s.config.root_category_id
    parent = await s.mappings.resolve(ENTITY, reference)
    if parent is None:
        raise DependencyNotReadyError(
            f"category {m.entity_uuid}: its parent {reference!r} is not in Magento yet",
            entity_type=ENTITY,
            entity_uuid=reference,
        )
    return int(parent.external_id)


async def _delete(s: Session, m: MutationData, mapping: MappingData | None) -> None:
    if mapping is None:
        return  # never created here: nothing to delete
    await s.api.call("DELETE", f"/categories/{segment(mapping.external_id)}", accept=(404,))
    code = data_of(mapping).get("code")
    await s.mappings.forget(ENTITY, m.entity_uuid, code if isinstance(code, str) else None)
