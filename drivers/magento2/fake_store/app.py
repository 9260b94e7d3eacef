"""`FakeMagento`: a Magento 2.4 admin REST API in memory, checked against Adobe's schema.

Every request goes through the same steps (`FakeMagento.handle`):

1. Split ``/rest/<store code>/V1/...`` (or ``/rest/<store>/async/bulk/V1/...``); an unknown
   store code is a 400, a path no route of the schema matches is Magento's 404
   ``Request does not match any route.``.
2. Authenticate (OAuth 1.0a signature or bearer token, see `StoreCredentials`) and apply
   the ACL: a failure is Magento's 401 naming the ACL resource.
3. Check parameters and body against the schema (`AdobeSchema`, with §9's caveats). A
   request the schema refuses is answered 400 and recorded in `violations`: tests assert
   that list stays empty.
4. Let an injected fault (`Faults`) answer instead, if one matches (after the checks, so a
   faulted request is checked too).
5. Wait the injected latency (product saves wait between their SKU lookup and their write,
   which is where Magento's duplicate-SKU race lives), run the route's handler.
6. Check the response body against the schema too (a fake that drifts from the schema is a
   bug of the fake: recorded in `violations` as well), count the call, answer.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from drivers.magento2.fake_store.auth import StoreCredentials
from drivers.magento2.fake_store.bulk import COMPLETE, FAILED, BulkOperations, OperationIds
from drivers.magento2.fake_store.catalog import ADMIN_STORE, Catalog
from drivers.magento2.fake_store.eav import Eav
from drivers.magento2.fake_store.errors import MagentoError
from drivers.magento2.fake_store.faults import Faults
from drivers.magento2.fake_store.routes import ROUTES, Call, StoreView, unsupported
from drivers.magento2.fake_store.schema import NO_BODY, AdobeSchema, MatchedRoute

__all__ = ["FakeMagento", "Response"]

_NO_ROUTE = "Request does not match any route."
_BULK_PREFIX = "/async/bulk"
_ACL = (  # path prefix below /V1 -> the ACL resource Magento names in its 401
    ("/V1/products/attribute-sets", "Magento_Catalog::sets"),
    ("/V1/products/attributes", "Magento_Catalog::attributes_attributes"),
    ("/V1/products", "Magento_Catalog::products"),
    ("/V1/categories", "Magento_Catalog::categories"),
    ("/V1/bulk", "Magento_Logging::system_magento_logging_bulk_operations"),
    ("/V1/store", "Magento_Backend::store"),
)
_DEFAULT_VIEWS = (StoreView(1, "default", "Default Store View"),)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def _acl_resource(path: str) -> str:
    return next((res for prefix, res in _ACL if path.startswith(prefix)), "Magento_Backend::admin")


class FakeMagento:
    """The store: state, checks, faults and counters. Serve it with `FakeMagentoServer`."""

    def __init__(
        self,
        *,
        credentials: StoreCredentials | None = None,
        store_views: Iterable[StoreView] = (),
        latency_s: float = 0.0,
        check_responses: bool = True,
        check_requests: bool = True,
        bulk_open_polls: int = 1,
        bulk_operation_ids: OperationIds = "index",
        denied_resources: Iterable[str] = (),
        seed: int = 0,
    ) -> None:
        self.schema = AdobeSchema.load()
        self.credentials = credentials or StoreCredentials()
        self.store_views = (*_DEFAULT_VIEWS, *store_views)
        self._store_ids = {"all": ADMIN_STORE} | {v.code: v.id for v in self.store_views}
        self.latency_s = latency_s
        self.check_responses = check_responses
        self.check_requests = check_requests
        """Off (benchmarks only): request bodies and queries are not checked against the
        schema, so the store's CPU per request is mostly its semantics."""
        self.denied_resources = set(denied_resources)
        self.eav = Eav()
        self.catalog = Catalog(self.eav)
        self.bulk = BulkOperations(bulk_open_polls, bulk_operation_ids)
        self.faults = Faults(seed)
        self.calls: Counter[tuple[str, str, int]] = Counter()
        """(method, route template or raw path, status) → count."""
        self.created: Counter[str] = Counter()
        """Entities created per kind (product, category, attribute, attribute_set)."""
        self.violations: list[str] = []
        """Requests the schema refused and responses that drifted from it."""
        self._lock = threading.Lock()

    # -- reading the figures --------------------------------------------------------------
    def calls_by_status(self) -> Counter[tuple[str, int]]:
        """HTTP calls per (method, status)."""
        out: Counter[tuple[str, int]] = Counter()
        for (method, _route, status), n in self.calls.items():
            out[(method, status)] += n
        return out

    def count(self, method: str, template: str, status: int | None = None) -> int:
        return sum(
            n
            for (m, t, s), n in self.calls.items()
            if m == method and t == template and (status is None or s == status)
        )

    # -- the pipeline ---------------------------------------------------------------------
    async def handle(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        """Answer one request (`url` absolute, as the client signed it); see the module."""
        method = method.upper()
        path = urlsplit(url).path
        template = path
        try:
            # 1. store code and route
            store_id, rest = self._split(path)
            bulk = rest.startswith(_BULK_PREFIX + "/")
            route_path = rest[len(_BULK_PREFIX) :] if bulk else rest
            route = self.schema.match(method, route_path)
            if route is None:
                self._violation(f"{method} {path}: no route of the schema")
                raise MagentoError(404, _NO_ROUTE)
            template = (_BULK_PREFIX if bulk else "") + route.spec.template
            # 2. authentication and ACL
            resource = _acl_resource(route_path)
            if not self.credentials.accepts(method, url, headers) or (
                resource in self.denied_resources
            ):
                raise MagentoError(
                    401,
                    "The consumer isn't authorized to access %resources.",
                    {"resources": resource},
                )
            # 3. the schema's checks
            query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
            payload = self._decode(body)
            self._check_request(method, route, bulk, query, payload)
            # 4. injected faults
            fault = self.faults.next_error(method, route_path)
            if fault is not None:
                raise fault
            if bulk:
                result, status = await self._bulk(store_id, payload)
            else:
                result, status = await self._dispatch(route, store_id, query, payload)
        except MagentoError as exc:
            return self._answer(method, template, exc.status, exc.body(), None, exc.headers)
        return self._answer(method, template, status, result, None if bulk else route)

    def _split(self, path: str) -> tuple[int, str]:
        parts = path.split("/", 3)
        if len(parts) < 4 or parts[1] != "rest":
            self._violation(f"{path}: not below /rest/<store code>/")
            raise MagentoError(404, _NO_ROUTE)
        store_id = self._store_ids.get(parts[2])
        if store_id is None:
            if parts[2].startswith("V"):  # /rest/V1/... means the default store view
                return 1, "/" + "/".join(parts[2:])
            raise MagentoError(
                400, "The store that was requested wasn't found. Verify the store and try again."
            )
        return store_id, "/" + parts[3]

    def _decode(self, body: bytes) -> Any:
        if not body:
            return NO_BODY
        try:
            return json.loads(body)
        except ValueError:
            self._violation("a request body that is not JSON")
            raise MagentoError(400, "Decoding error: \n%1", ["Syntax error"]) from None

    def _refuse(self, what: str, problems: list[str]) -> MagentoError:
        self._violation(f"{what}: " + "; ".join(problems))
        return MagentoError(400, "%1", ["; ".join(problems)])

    def _check_request(
        self,
        method: str,
        route: MatchedRoute,
        bulk: bool,
        query: list[tuple[str, str]],
        payload: Any,
    ) -> None:
        spec = route.spec
        if not bulk:
            if self.check_requests:
                problems = self.schema.request_problems(route, query, payload)
                if problems:
                    raise self._refuse(f"{spec.method} {spec.template}", problems)
            return
        if (method, spec.template) != ("POST", "/V1/products"):
            self._violation(f"{method} {_BULK_PREFIX}{spec.template}: bulk not implemented")
            raise unsupported(_BULK_PREFIX + spec.template)
        if not isinstance(payload, list) or not payload:
            raise self._refuse("bulk", ["the body must be a non-empty array of request bodies"])
        assert spec.body_ref is not None
        problems = [
            f"[{i}] {p}"
            for i, item in enumerate(payload if self.check_requests else ())
            for p in self.schema.body_problems(spec.body_ref, item)
        ]
        if problems or query:
            raise self._refuse(f"bulk {spec.template}", problems or ["no query on bulk routes"])

    async def _dispatch(
        self, route: MatchedRoute, store_id: int, query: list[tuple[str, str]], payload: Any
    ) -> tuple[Any, int]:
        spec = route.spec
        handler = ROUTES.get((spec.method, spec.template))
        if handler is None:
            self._violation(f"{spec.method} {spec.template}: not implemented by the fake")
            raise unsupported(spec.template)
        call = self._call(route, store_id, query, payload)
        # 5. latency, then the handler
        result = await handler(call)
        await call.pause()
        if call.meta.get("created"):
            self.created[_kind(spec.template)] += 1
        return result, 200

    def _call(
        self, route: MatchedRoute, store_id: int, query: list[tuple[str, str]], payload: Any
    ) -> Call:
        paused = False

        async def pause() -> None:
            nonlocal paused
            if not paused:
                paused = True
                if self.latency_s > 0:
                    await asyncio.sleep(self.latency_s)

        return Call(
            self.catalog, self.eav, self.bulk, store_id, self.store_views, route.path_values,
            query, None if payload is NO_BODY else payload, pause,
        )  # fmt: skip

    async def _bulk(self, store_id: int, payload: list[Any]) -> tuple[Any, int]:
        """``POST …/async/bulk/V1/products`` (already checked by `_check_request`)."""
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        outcomes: list[tuple[int, str, Any]] = []
        for item in payload:
            data = item["product"]
            existing = self.catalog.find_product(str(data.get("sku", "")))
            try:
                saved = self.catalog.save_product(data, store_id, existing)
            except MagentoError as exc:
                outcomes.append((FAILED, _render(exc), None))
                continue
            if existing is None:
                self.created["product"] += 1
            outcomes.append((COMPLETE, "Service execution success ProductRepository::save",
                             self.catalog.product_json(saved, store_id)))  # fmt: skip
        return self.bulk.accepted(payload, outcomes, store_id), 202

    def _answer(
        self,
        method: str,
        template: str,
        status: int,
        result: Any,
        route: MatchedRoute | None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        # 6. response check and counting
        if self.check_responses and route is not None:
            problems = self.schema.response_problems(route, status, result)
            if problems:
                self._violation(f"fake's own {status} response to {template}: {problems[:3]}")
        with self._lock:
            self.calls[(method, template, status)] += 1
        body = json.dumps(result).encode()
        return Response(status, body, {"Content-Type": "application/json", **(headers or {})})

    def _violation(self, text: str) -> None:
        with self._lock:
            self.violations.append(text)


def _kind(template: str) -> str:
    if template.startswith("/V1/products/attribute-sets"):
        return "attribute_set"
    if template.startswith("/V1/products/attributes"):
        return "attribute"
    return "product" if template.startswith("/V1/products") else "category"


def _render(error: MagentoError) -> str:
    message = error.template
    params = error.parameters
    if isinstance(params, Mapping):
        for key, value in params.items():
            message = message.replace(f"%{key}", str(value))
    elif params:
        for index, value in enumerate(params, start=1):
            message = message.replace(f"%{index}", str(value))
    return message
