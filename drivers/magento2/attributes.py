"""Attribute events → Magento product attributes and their options (notes §5, §11).

created/updated:

1. The Magento code: the mapping's, else the IEC code made valid (``attribute_code_prefix``
   + lowercase ``[a-z][a-z0-9_]``, at most 30 characters).
2. GET the attribute by code (a replay, or an attribute already in the store, is adopted):
   404 → POST with the options; else PUT labels and scope. Code and input type are
   immutable in Magento: an IEC type whose input differs from the attribute's is refused
   (`PermanentError`, dead-lettered with the reason: a type change needs a human).
3. Options: Magento's options have no code, so option code → option id lives in the
   mapping's external data. Options missing from Magento are POSTed (the id comes back),
   renamed ones PUT. Options dropped in the IEC are left in Magento (deleting one deletes
   its values on products).
4. Persist the mapping (code, attribute id, input type, options) and its code alias.

deleted: refused (dead-lettered with the reason) unless ``allow_destructive_deletes``:
deleting an attribute deletes its values on every product. 404 counts as done.
"""

from __future__ import annotations

from typing import Any

from contracts import MappingData, MutationData, Operation, PermanentError
from drivers.magento2 import payload_values as pv
from drivers.magento2.api import segment
from drivers.magento2.bodies import (
    OptionSpec,
    attribute_body,
    attribute_code,
    frontend_input,
    option_specs,
)
from drivers.magento2.session import Session, data_of, is_stale, version_data

__all__ = ["apply_attribute"]

ENTITY = "attribute"


async def apply_attribute(s: Session, m: MutationData) -> None:
    mapping = await s.mappings.find(ENTITY, m.entity_uuid)
    if is_stale(m, mapping):
        s.logger.info("stale attribute mutation skipped", extra={"uuid": m.entity_uuid})
        return
    known: dict[str, Any] = data_of(mapping)
    if m.operation is Operation.DELETED:
        await _delete(s, m, mapping, known)
        return
    payload = m.payload
    iec_code = pv.text(payload, "code") or known.get("iec_code")
    if not isinstance(iec_code, str):
        raise PermanentError(f"attribute {m.entity_uuid}: the payload has no code")
    # 1. the code
    if mapping is not None:
        code = mapping.external_id
    else:
        try:
            code = attribute_code(iec_code, s.config.attribute_code_prefix)
        except ValueError as exc:
            raise PermanentError(f"attribute {m.entity_uuid}: {exc}") from None
    store_ids = await s.api.store_ids()
    options = option_specs(payload, s.locales, store_ids)
    # 2. look up, then create or update
    path = f"/products/attributes/{segment(code)}"
    existing = await s.api.call("GET", path, accept=(404,))
    if existing is None:
        body = attribute_body(code, payload, s.locales, store_ids, options=options, create=True)
        result = await s.api.call("POST", "/products/attributes", body=body)
    else:
        _refuse_a_type_change(m, code, existing)
        body = attribute_body(code, payload, s.locales, store_ids, create=False)
        result = await s.api.call("PUT", path, body=body)
    # 3. options
    option_ids = await _sync_options(s, code, options, result, known.get("options") or {})
    # 4. the mapping
    data = {
        "code": code,
        "iec_code": iec_code,
        "attribute_id": result.get("attribute_id"),
        "frontend_input": result.get("frontend_input"),
        "options": option_ids,
        **version_data(m),
    }
    if mapping is None or dict(mapping.external_data or {}) != data:
        await s.mappings.save(ENTITY, m.entity_uuid, code, data, iec_code)


def _refuse_a_type_change(m: MutationData, code: str, existing: dict[str, Any]) -> None:
    if m.payload.get("type") is None:
        return  # the event does not say: the attribute keeps its type
    wanted, has = frontend_input(m.payload["type"]), existing.get("frontend_input")
    if has and wanted != has:
        raise PermanentError(
            f"attribute {code} is a {has!r} in Magento and its IEC type "
            f"{m.payload['type']!r} needs {wanted!r}: Magento cannot change an attribute's "
            "input type. Change it in Magento by hand (recreating the attribute deletes its "
            "values on products), then replay this dead letter."
        )


async def _sync_options(
    s: Session,
    code: str,
    options: list[OptionSpec],
    result: dict[str, Any],
    known: dict[str, str],
) -> dict[str, str]:
    if result.get("frontend_input") not in ("select", "multiselect"):
        return {}
    in_store = {
        str(o.get("label")): str(o.get("value"))
        for o in result.get("options") or ()
        if o.get("value") not in (None, "")
    }
    ids_in_store = set(in_store.values())
    labels_by_id = {v: k for k, v in in_store.items()}
    out: dict[str, str] = {}
    base = f"/products/attributes/{segment(code)}/options"
    for option in options:
        option_id = known.get(option.code)
        if option_id not in ids_in_store:
            option_id = in_store.get(option.label)
        if option_id is None:
            option_id = str(await s.api.call("POST", base, body={"option": option.body()}))
        elif labels_by_id.get(option_id) != option.label:
            body = {"option": {**option.body(), "value": option_id}}
            await s.api.call("PUT", f"{base}/{segment(option_id)}", body=body)
        out[option.code] = option_id
    return out


async def _delete(
    s: Session, m: MutationData, mapping: MappingData | None, known: dict[str, Any]
) -> None:
    if mapping is None:
        return
    if not s.config.allow_destructive_deletes:
        raise PermanentError(
            f"attribute {mapping.external_id} was not deleted: deleting a Magento attribute "
            "deletes its values on every product. Delete it in Magento by hand, or set "
            "allow_destructive_deletes: true and replay this dead letter."
        )
    await s.api.call(
        "DELETE", f"/products/attributes/{segment(mapping.external_id)}", accept=(404,)
    )
    iec_code = known.get("iec_code")
    await s.mappings.forget(ENTITY, m.entity_uuid, iec_code if isinstance(iec_code, str) else None)
