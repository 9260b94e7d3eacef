"""The demo's default target: the ``magento2`` driver writing into a fake Magento store.

By default a `FakeMagento` (checked against Adobe's schema, store views ``de`` and ``fr``)
runs on a local port for the length of the demo; the report compares it entity by entity
with the catalogue that was published, and lists the HTTP calls by method and status. With
``--magento-url`` the driver writes into a real store instead, with the integration's
credentials from the environment (``MAGENTO_CONSUMER_KEY``, ``MAGENTO_CONSUMER_SECRET``,
``MAGENTO_ACCESS_TOKEN``, ``MAGENTO_ACCESS_TOKEN_SECRET``; or ``MAGENTO_AUTH=bearer`` and
``MAGENTO_ACCESS_TOKEN``) and ``MAGENTO_LOCALE_STORES`` such as ``de_DE=de,fr_FR=fr``.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from connector.demo.targets import DemoOptions, TargetReport
from contracts import DriverContract, MutationData, Operation
from drivers.magento2 import Magento2Driver
from drivers.magento2.fake_store import FakeMagento, FakeMagentoServer, StoreView
from drivers.magento2.url_keys import category_url_key

__all__ = ["MagentoTarget", "compare_catalogue", "held_catalogue", "published_catalogue"]

_ENV_KEYS = {
    "consumer_key": "MAGENTO_CONSUMER_KEY",
    "consumer_secret": "MAGENTO_CONSUMER_SECRET",
    "access_token": "MAGENTO_ACCESS_TOKEN",
    "access_token_secret": "MAGENTO_ACCESS_TOKEN_SECRET",
}
_LOCALES = {"de_DE": "de", "fr_FR": "fr"}
_ALIASED = ("family", "attribute", "category")  # entities with a code get a code alias
Catalogue = dict[str, dict[str, dict[str, Any]]]


class MagentoTarget:
    name = "magento2"
    driver_type = "magento2"

    def __init__(self, options: DemoOptions) -> None:
        self.driver_class: type[DriverContract] = Magento2Driver
        self.url = options.magento_url
        self.environ = options.environ
        self.store: FakeMagento | None = None
        self._server: FakeMagentoServer | None = None

    def describe(self) -> str:
        if self.url:
            return f"the magento2 driver into the Magento store at {self.url}"
        where = self._server.base_url if self._server else "a local port"
        return f"the magento2 driver into a fake Magento (Adobe's schema) at {where}"

    def start(self) -> None:
        if self.url is None:
            self.store = FakeMagento(
                store_views=[StoreView(2, "de", "Deutsch"), StoreView(3, "fr", "Français")]
            )
            self._server = FakeMagentoServer(self.store).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def driver_config(self) -> dict[str, Any]:
        if self.url is None:
            if self._server is None or self.store is None:
                raise RuntimeError("MagentoTarget.start() first")
            creds = self.store.credentials
            return {
                "base_url": self._server.base_url,
                "consumer_key": creds.consumer_key,
                "consumer_secret": creds.consumer_secret,
                "access_token": creds.access_token,
                "access_token_secret": creds.access_token_secret,
                "locale_stores": dict(_LOCALES),
                "max_concurrent_requests": 16,
            }
        config: dict[str, Any] = {"base_url": self.url}
        config["auth"] = self.environ.get("MAGENTO_AUTH", "oauth")
        for key, variable in _ENV_KEYS.items():
            if variable in self.environ:
                config[key] = self.environ[variable]
        pairs = self.environ.get("MAGENTO_LOCALE_STORES", "")
        config["locale_stores"] = dict(p.split("=", 1) for p in pairs.split(",") if "=" in p)
        return config

    def integration_settings(self) -> dict[str, Any]:
        # Products and child categories may arrive before what they reference (other topics,
        # other partitions): they are retried until it is there.
        return {
            "retry": {"max_attempts": 12, "initial_backoff_ms": 100, "max_backoff_ms": 2000},
            "handle_timeout_ms": 30_000,
        }

    def expected_mappings(self, mutations: tuple[MutationData, ...], live: int) -> int:
        last: dict[tuple[str, str], Operation] = {}
        for m in mutations:
            last[(m.entity_type, m.entity_uuid)] = m.operation
        aliases = sum(
            1 for (t, _u), op in last.items() if t in _ALIASED and op is not Operation.DELETED
        )
        return live + aliases

    def phases(self, mutations: tuple[MutationData, ...]) -> list[tuple[MutationData, ...]]:
        # All at once, as a PIM publishes: a product (or a child category) that arrives before
        # what it references is retried, and parks only its own key meanwhile.
        return [mutations]

    def report(self, mutations: tuple[MutationData, ...]) -> TargetReport | None:
        if self.store is None:
            return None
        expected = published_catalogue(mutations)
        held = held_catalogue(self.store)
        problems = compare_catalogue(expected, held)
        problems += [f"schema violation: {v}" for v in self.store.violations[:3]]
        return TargetReport(_view(self.store, expected, held), problems)


def _last_states(mutations: tuple[MutationData, ...]) -> dict[tuple[str, str], MutationData]:
    last: dict[tuple[str, str], MutationData] = {}
    for m in mutations:
        last[(m.entity_type, m.entity_uuid)] = m
    return {k: m for k, m in last.items() if m.operation is not Operation.DELETED}


def published_catalogue(mutations: tuple[MutationData, ...]) -> Catalogue:
    """What the store must hold after the demo catalogue: entity kind → key → fields."""
    live = _last_states(mutations)
    codes = {uuid: str(m.payload.get("code")) for (_t, uuid), m in live.items()}
    out: Catalogue = {"product": {}, "category": {}, "attribute": {}, "family": {}}
    for (entity_type, uuid), m in live.items():
        p = m.payload
        if entity_type == "family":
            label = (p.get("label") or {}).get("en_US", p["code"])
            out["family"][str(p["code"])] = {"name": f"PIM {label} ({p['code']})"}
        elif entity_type == "attribute":
            out["attribute"][str(p["code"])] = {"label": p["label"]["en_US"]}
        elif entity_type == "category":
            parent = p.get("parent")
            out["category"][category_url_key(str(p["code"]), None, uuid)] = {
                "name": p["label"]["en_US"],
                "parent": category_url_key(codes[parent], None, parent) if parent else None,
            }
        else:
            price = next(x for x in p["price"] if x["currency"] == "EUR")
            out["product"][str(p["sku"])] = {
                "name": p["name"]["en_US"],
                "name_de": p["name"]["de_DE"],
                "price": float(price["amount"]),
                "qty": float(p["stock"]),
                "status": 1 if p["enabled"] else 2,
                "set": f"family:{codes[p['family']]}",
                "categories": sorted(category_url_key(codes[c], None, c) for c in p["categories"]),
            }
    return out


def held_catalogue(store: FakeMagento) -> Catalogue:
    """The same view of what the fake store holds."""
    categories = store.catalog.categories
    keys = {c.id: str(c.value("url_key")) for c in categories.values()}
    sets = {s.id: s.name for s in store.eav.sets.values()}
    set_code = {sid: name.rsplit("(", 1)[-1].rstrip(")") for sid, name in sets.items()}
    out: Catalogue = {"product": {}, "category": {}, "attribute": {}, "family": {}}
    for s in store.eav.sets.values():
        if s.id != store.eav.default_set_id:
            out["family"][set_code[s.id]] = {"name": s.name}
    for a in store.eav.attributes.values():
        if a.user_defined:
            out["attribute"][a.code] = {"label": a.data.get("default_frontend_label")}
    for c in categories.values():
        if c.id > 2:
            parent = keys.get(c.parent_id) if c.parent_id > 2 else None
            out["category"][keys[c.id]] = {"name": c.value("name"), "parent": parent}
    for p in store.catalog.products:
        out["product"][p.sku] = {
            "name": p.value("name"),
            "name_de": p.value("name", 2),
            "price": p.value("price"),
            "qty": p.stock.get("qty"),
            "status": p.value("status"),
            "set": f"family:{set_code.get(p.attribute_set_id)}",
            "categories": sorted(keys[int(link["category_id"])] for link in p.category_links),
        }
    return out


def compare_catalogue(expected: Catalogue, held: Catalogue) -> list[str]:
    """Every difference, entity by entity (empty: the store holds exactly the catalogue)."""
    problems: list[str] = []
    for kind, wanted in expected.items():
        have = held.get(kind, {})
        missing = sorted(set(wanted) - set(have))
        extra = sorted(set(have) - set(wanted))
        if missing:
            problems.append(f"{len(missing)} {kind}(s) missing in the store, e.g. {missing[0]}")
        if extra:
            problems.append(f"{len(extra)} {kind}(s) in the store not in the catalogue: {extra[0]}")
        wrong = [k for k in wanted if k in have and have[k] != wanted[k]]
        if wrong:
            k = wrong[0]
            problems.append(
                f"{len(wrong)} {kind}(s) differ, e.g. {k}: store {have[k]} != published {wanted[k]}"
            )
    return problems


def _view(store: FakeMagento, expected: Catalogue, held: Catalogue) -> Group:
    table = Table(title="The fake Magento store now holds", title_justify="left")
    table.add_column("entity")
    table.add_column("in the store", justify="right")
    table.add_column("published (live)", justify="right")
    names = {"product": "products", "category": "categories", "attribute": "attributes",
             "family": "attribute sets (families)"}  # fmt: skip
    for kind, label in names.items():
        got, want = len(held[kind]), len(expected[kind])
        table.add_row(
            label, Text(str(got), style="green" if got == want else "bold red"), str(want)
        )
    calls = Table(title="HTTP calls to the store", title_justify="left", min_width=40)
    by_status = store.calls_by_status()
    statuses = sorted({s for _m, s in by_status})
    calls.add_column("method")
    for status in statuses:
        calls.add_column(str(status), justify="right")
    for method in sorted({m for m, _s in by_status}):
        calls.add_row(method, *(str(by_status.get((method, s), 0) or "-") for s in statuses))
    return Group(table, Text(""), calls)
