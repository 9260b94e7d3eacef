"""Bulk mode: a batch's products through Magento's asynchronous bulk API (notes §7).

For backfills: one request carries every product of the batch instead of one PHP bootstrap
each. Not for the live stream: nothing is saved until the store's queue consumer gets to
it, ids come only from a search afterwards, and the order inside a bulk is not guaranteed.

1. Chains by entity, as in `run_in_key_order`. A chain with a delete runs the ordinary
   (synchronous) way; otherwise only the chain's last mutation is sent, with every field
   (a bulk item must not depend on another), and its outcome is every record's of the chain.
2. References and bodies as for a synchronous save (`products.prepare`); a failure there is
   that chain's failure.
3. ``POST /rest/<admin>/async/bulk/V1/products`` with the admin bodies; poll
   ``GET /V1/bulk/{uuid}/status`` every ``bulk_poll_interval_s`` until every queued body has
   an operation and none is open (status 4), or until the call's deadline is near (the open
   ones then fail as transient and are sent again: product save is an upsert, so a resend
   is harmless).
4. Map each operation back to its record (`bulk_results`: by id when the ids are the request
   indexes, else by the SKU of the request ``GET /V1/bulk/{uuid}/detailed-status`` shows):
   1 complete, 2 retriable, 3 failed and 5 rejected permanent with Magento's
   ``result_message``; a body no operation matches is transient, as an open one.
5. Read the ids of the saved products with one search (``sku in …``) and persist their
   mappings in one write.
6. Localized values: one bulk per store view, the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from contracts import (
    IntegrationError,
    MutationData,
    Operation,
    PermanentError,
    TransientError,
    current_deadline,
)
from drivers.magento2 import bulk_results
from drivers.magento2.ordering import run_in_key_order
from drivers.magento2.products import ENTITY, apply_product, prepare
from drivers.magento2.session import Session, is_stale, version_data

__all__ = ["apply_products_in_bulk"]

_COMPLETE, _RETRIABLE, _OPEN = 1, 2, 4
_POLL_MARGIN_S = 2.0


async def apply_products_in_bulk(
    s: Session, mutations: Sequence[MutationData]
) -> dict[int, BaseException]:
    failures: dict[int, BaseException] = {}
    # 1. chains
    chains: dict[str, list[int]] = {}
    for index, m in enumerate(mutations):
        chains.setdefault(m.entity_uuid, []).append(index)
    ordinary = [i for c in chains.values() if any(mutations[i].is_deletion for i in c) for i in c]
    ordinary_failures = await run_in_key_order(
        [mutations[i] for i in ordinary],
        lambda m: m.entity_uuid,
        lambda m: apply_product(s, m),
        slots=s.slots,
    )
    failures.update({ordinary[k]: e for k, e in ordinary_failures.items()})
    # 2. bodies of the bulk chains
    items: list[tuple[list[int], MutationData, str, dict[str, dict[str, Any]], dict[str, Any]]] = []
    for chain in chains.values():
        if chain[0] in ordinary:
            continue
        last = mutations[chain[-1]]
        mapping = await s.mappings.find(ENTITY, last.entity_uuid)
        if is_stale(last, mapping) or last.operation is Operation.DELETED:
            continue
        try:
            prepared = await prepare(s, last, mapping, full=True)
        except IntegrationError as exc:
            failures.update({i: exc for i in chain})
            continue
        items.append((chain, last, prepared.sku, prepared.bodies.stores, prepared.bodies.admin))
    if not items:
        return failures
    # 3.-4. the admin bulk
    outcomes = await _submit(s, None, [admin for *_, admin in items])
    saved: list[tuple[list[int], MutationData, str, dict[str, dict[str, Any]]]] = []
    for (chain, last, sku, stores, _admin), outcome in zip(items, outcomes, strict=True):
        if outcome is None:
            saved.append((chain, last, sku, stores))
        else:
            failures.update({i: outcome for i in chain})
    if not saved:
        return failures
    # 5. ids and mappings
    found = await s.api.search(
        "/products", {"sku": ",".join(sku for _c, _m, sku, _s in saved)}, condition="in"
    )
    ids = {str(p["sku"]): str(p["id"]) for p in found}
    await s.mappings.save_many(
        ENTITY,
        [(m.entity_uuid, ids.get(sku, sku), {"sku": sku, **version_data(m)}, None)
         for _c, m, sku, _s in saved],
    )  # fmt: skip
    # 6. store views
    for store in sorted({store for *_, stores in saved for store in stores}):
        members = [(chain, stores[store]) for chain, _m, _sku, stores in saved if store in stores]
        store_outcomes = await _submit(s, store, [body for _chain, body in members])
        for (chain, _body), outcome in zip(members, store_outcomes, strict=True):
            if outcome is not None:
                failures.update({i: outcome for i in chain})
    return failures


async def _submit(
    s: Session, store: str | None, bodies: list[dict[str, Any]]
) -> list[IntegrationError | None]:
    """Steps 3-4 for one scope: one outcome per body (None: saved)."""
    accepted = await s.api.call("POST", "/products", store=store, body=bodies, bulk=True)
    bulk_uuid = str(accepted["bulk_uuid"])
    outcomes: list[IntegrationError | None] = [
        None if item.get("status") == "accepted" else PermanentError(
            f"bulk item {item.get('id')} was not accepted: {item.get('status')}")
        for item in accepted.get("request_items") or ()
    ]  # fmt: skip
    queued = [i for i, o in enumerate(outcomes) if o is None]
    if not queued:
        return outcomes
    # 3. poll until every queued body has an operation and none is open, or time runs out
    while True:
        status = await s.api.call("GET", f"/bulk/{bulk_uuid}/status")
        operations = list(status.get("operations_list") or ())
        if len(operations) >= len(queued) and all(op.get("status") != _OPEN for op in operations):
            break
        deadline = current_deadline()
        if deadline is not None and deadline.remaining() < (
            _POLL_MARGIN_S + s.config.bulk_poll_interval_s
        ):
            break
        await asyncio.sleep(s.config.bulk_poll_interval_s)
    # 4. which operation is which body (`bulk_results`), then each one's outcome
    matched = bulk_results.by_index(queued, operations)
    if matched is None:
        detailed = await s.api.call("GET", f"/bulk/{bulk_uuid}/detailed-status")
        skus = [str(body["product"]["sku"]) for body in bodies]
        matched = bulk_results.by_request(queued, skus, detailed.get("operations_list") or ())
    for index in queued:
        outcomes[index] = _outcome(bulk_uuid, matched.get(index))
    return outcomes


def _outcome(bulk_uuid: str, op: Mapping[str, Any] | None) -> IntegrationError | None:
    if op is None or op.get("status") == _OPEN:
        return TransientError(
            f"bulk {bulk_uuid}: still queued when the call's time ran out (is the store's "
            "async.operations.all consumer running?)"
        )
    message = str(op.get("result_message") or "")
    if op.get("status") == _COMPLETE:
        return None
    if op.get("status") == _RETRIABLE:
        return TransientError(f"bulk {bulk_uuid}: {message}")
    return PermanentError(f"Magento refused the product: {message}")
