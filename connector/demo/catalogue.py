"""A realistic sample catalogue as a stream of mutations, for the demo and benchmarks.

Families, attributes and categories first (products reference them), then products; then
some updates and a few deletions, as a PIM would emit them. Deterministic for a given seed.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contracts import MutationData, Operation

__all__ = ["CatalogueShape", "product_payload", "sample_catalogue"]

_NAMESPACE = uuid.UUID("6f1d1c2e-61c4-4b0e-9d55-5a3c2f0e8a10")
_LOCALES = ("en_US", "de_DE", "fr_FR", "nl_NL")
_COLOURS = ("black", "white", "red", "navy", "olive", "sand", "charcoal")
_MATERIALS = ("cotton", "wool", "linen", "polyester", "leather", "bamboo")
_WORDS = ("classic", "urban", "alpine", "coastal", "studio", "trail", "heritage", "everyday")
_NOUNS = ("jacket", "sneaker", "backpack", "shirt", "lamp", "chair", "kettle", "scarf")


@dataclass(frozen=True, slots=True)
class CatalogueShape:
    families: int = 5
    attributes: int = 24
    categories: int = 30
    products: int = 400
    update_ratio: float = 0.3
    delete_ratio: float = 0.05


def _uuid(kind: str, n: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{n}"))


def product_payload(
    n: int, rng: random.Random, categories: list[str], family: str
) -> dict[str, object]:
    """About 30 fields with nested, localised attribute values (~1.2 KB of JSON)."""
    name = f"{rng.choice(_WORDS).title()} {rng.choice(_NOUNS)} {n}"
    return {
        "sku": f"SKU-{n:07d}",
        "family": family,
        "enabled": rng.random() > 0.1,
        "categories": rng.sample(categories, k=min(3, len(categories))),
        "name": {loc: f"{name} ({loc})" for loc in _LOCALES[:2]},
        "description": {"en_US": f"The {name.lower()} for every day. " * 2},
        "price": [
            {"currency": "EUR", "amount": f"{rng.uniform(5, 500):.2f}"},
            {"currency": "USD", "amount": f"{rng.uniform(5, 500):.2f}"},
        ],
        "weight": {"amount": round(rng.uniform(0.1, 9.0), 3), "unit": "KILOGRAM"},
        "color": rng.choice(_COLOURS),
        "material": rng.choice(_MATERIALS),
        "size": rng.choice(["XS", "S", "M", "L", "XL"]),
        "ean": f"{rng.randrange(10**12, 10**13)}",
        "stock": rng.randrange(0, 1000),
        "tax_class": "standard",
        "visibility": "catalog_search",
        "url_key": f"{name.lower().replace(' ', '-')}",
        "meta_title": name,
        "meta_description": f"Buy the {name.lower()} online.",
        "attributes": [
            {"code": "care", "locale": None, "scope": None, "value": "machine wash 30"},
            {"code": "origin", "locale": None, "scope": "ecommerce", "value": "PT"},
            {"code": "fit", "locale": "en_US", "scope": "ecommerce", "value": "regular"},
        ],
        "images": [f"https://cdn.example.com/p/{n}/{i}.jpg" for i in range(2)],
        "created": "2026-01-15T10:00:00+00:00",
        "updated": "2026-11-20T08:30:00+00:00",
        "brand": rng.choice(["Northwind", "Contoso", "Fabrikam"]),
        "season": rng.choice(["SS26", "AW26"]),
        "rating": round(rng.uniform(1, 5), 1),
        "is_new": rng.random() > 0.8,
        "min_qty": 1,
        "max_qty": 10,
        "warranty_months": 24,
    }


def sample_catalogue(
    shape: CatalogueShape = CatalogueShape(), seed: int = 7
) -> Iterator[MutationData]:
    """The mutations of the sample catalogue, in a plausible publishing order."""
    rng = random.Random(seed)
    clock = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    versions: dict[str, int] = {}

    def mutation(
        entity_type: str,
        entity_uuid: str,
        op: Operation,
        payload: dict[str, object],
        changed: tuple[str, ...] = (),
    ) -> MutationData:
        nonlocal clock
        clock += timedelta(milliseconds=rng.randrange(1, 50))
        versions[entity_uuid] = versions.get(entity_uuid, 0) + 1
        return MutationData(
            entity_type=entity_type,
            entity_uuid=entity_uuid,
            operation=op,
            payload=payload,
            changed_fields=changed,
            event_id=str(uuid.UUID(int=rng.getrandbits(128))),
            occurred_at=clock,
            version=versions[entity_uuid],
        )

    families = [_uuid("family", i) for i in range(shape.families)]
    for i, fam in enumerate(families):
        yield mutation(
            "family",
            fam,
            Operation.CREATED,
            {"code": f"family_{i}", "label": {"en_US": f"Family {i}"}},
        )
    for i in range(shape.attributes):
        yield mutation(
            "attribute",
            _uuid("attribute", i),
            Operation.CREATED,
            {
                "code": f"attr_{i}",
                "type": rng.choice(["text", "select", "number", "boolean"]),
                "localizable": rng.random() > 0.5,
                "scopable": rng.random() > 0.7,
                "label": {"en_US": f"Attribute {i}"},
            },
        )
    categories = [_uuid("category", i) for i in range(shape.categories)]
    for i, cat in enumerate(categories):
        parent = categories[(i - 1) // 3] if i else None
        yield mutation(
            "category",
            cat,
            Operation.CREATED,
            {
                "code": f"cat_{i}",
                "parent": parent,
                "label": {"en_US": f"Category {i}"},
                "position": i,
            },
        )
    products = [_uuid("product", i) for i in range(shape.products)]
    payloads: dict[str, dict[str, object]] = {}
    for i, prod in enumerate(products):
        payloads[prod] = product_payload(i, rng, categories, rng.choice(families))
        yield mutation("product", prod, Operation.CREATED, payloads[prod])
    for prod in rng.sample(products, k=int(len(products) * shape.update_ratio)):
        payload = dict(payloads[prod])
        payload["stock"] = rng.randrange(0, 1000)
        payload["price"] = [{"currency": "EUR", "amount": f"{rng.uniform(5, 500):.2f}"}]
        yield mutation("product", prod, Operation.UPDATED, payload, ("stock", "price"))
    for prod in rng.sample(products, k=int(len(products) * shape.delete_ratio)):
        yield mutation("product", prod, Operation.DELETED, {"sku": payloads[prod]["sku"]})
