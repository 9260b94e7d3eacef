"""Mutation factories: realistic payloads per standard entity type, and edge cases.

The payloads follow a PIM's shapes (localised labels, attribute values with locale and scope,
prices, category trees). A `MutationFactory` is deterministic for a given seed, so a failing
test shows the same uuids on every run; the module-level functions use a random one.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts._mutation import EntityTypes, MutationData, Operation

__all__ = [
    "MutationFactory",
    "empty_payload",
    "large_payload",
    "lifecycle",
    "make_mutation",
    "malformed_payload",
    "mixed_batch",
    "sample_payload",
    "unicode_payload",
]

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _labels(text: str) -> dict[str, str]:
    return {"en_US": text, "de_DE": f"{text} (DE)", "nl_NL": f"{text} (NL)"}


def sample_payload(entity_type: str, key: str = "1") -> dict[str, Any]:
    """A realistic payload for `entity_type` (standard types; a generic one for others)."""
    if entity_type == EntityTypes.PRODUCT:
        return {
            "sku": f"SKU-{key}",
            "family": "clothing",
            "enabled": True,
            "categories": ["men", "shirts", "summer_collection"],
            "parent": None,
            "values": {
                "name": [{"locale": "en_US", "scope": None, "data": f"Linen shirt {key}"}],
                "description": [
                    {"locale": "en_US", "scope": "ecommerce", "data": "<p>Light linen shirt.</p>"}
                ],
                "color": [{"locale": None, "scope": None, "data": "blue"}],
                "size": [{"locale": None, "scope": None, "data": "m"}],
                "weight": [
                    {"locale": None, "scope": None, "data": {"amount": "0.3", "unit": "KILOGRAM"}}
                ],
                "price": [
                    {
                        "locale": None,
                        "scope": None,
                        "data": [
                            {"amount": "49.95", "currency": "EUR"},
                            {"amount": "54.00", "currency": "USD"},
                        ],
                    }
                ],
                "stock": [{"locale": None, "scope": None, "data": 12}],
            },
            "associations": {"X_SELL": {"products": ["SKU-2", "SKU-3"]}},
            "created": "2024-01-01T10:00:00+00:00",
            "updated": "2024-01-02T09:30:00+00:00",
        }
    if entity_type == EntityTypes.CATEGORY:
        return {
            "code": f"shirts_{key}",
            "parent": "men",
            "labels": _labels(f"Shirts {key}"),
            "position": 3,
            "updated": "2024-01-02T09:30:00+00:00",
        }
    if entity_type == EntityTypes.ATTRIBUTE:
        return {
            "code": f"color_{key}",
            "type": "pim_catalog_simpleselect",
            "group": "marketing",
            "localizable": False,
            "scopable": False,
            "unique": False,
            "sort_order": 2,
            "labels": _labels(f"Color {key}"),
            "options": [
                {"code": "blue", "labels": _labels("Blue")},
                {"code": "red", "labels": _labels("Red")},
            ],
        }
    if entity_type == EntityTypes.FAMILY:
        return {
            "code": f"clothing_{key}",
            "attribute_as_label": "name",
            "attribute_as_image": None,
            "attributes": ["sku", "name", "description", "color", "size", "price"],
            "attribute_requirements": {"ecommerce": ["sku", "name", "price"]},
            "labels": _labels(f"Clothing {key}"),
        }
    return {
        "code": f"{entity_type}_{key}",
        "labels": _labels(f"{entity_type} {key}"),
        "active": True,
    }


def empty_payload() -> dict[str, Any]:
    """An empty payload (what a producer may send for a delete, or by mistake)."""
    return {}


def unicode_payload(entity_type: str = EntityTypes.PRODUCT, key: str = "1") -> dict[str, Any]:
    """A realistic payload full of non-ASCII text: scripts, emoji, combining marks, RTL."""
    payload = sample_payload(entity_type, key)
    texts = {
        "en_US": "Crème brûlée — “quoted” ½ €5 ™",
        "de_DE": "Größe: Straße ẞ",
        "ja_JP": "麻のシャツ 🍣",
        "ar_SA": "قميص كتان \u200f",
        "he_IL": "חולצת פשתן",
        "ru_RU": "Льняная рубашка",
        "hi_IN": "लिनन शर्ट",
        "emoji": "👩\u200d👩\u200d👧\u200d👦 🏳️\u200d🌈 🇳🇱",
        "fraktur": "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522",
        "combining": "e\u0301 n\u0303 Å vs A\u030a",
        "zero_width": "a\u200bb\ufeffc",
    }
    payload["labels"] = texts
    payload["ключ_ü"] = "non-ASCII key"
    if entity_type == EntityTypes.PRODUCT:
        payload["sku"] = f"SKU-ÜÑ-{key}"
        payload["values"]["name"] = [
            {"locale": loc, "scope": None, "data": t} for loc, t in texts.items()
        ]
    else:
        payload["code"] = f"{payload.get('code', entity_type)}_ü"
    return payload


def large_payload(
    size_bytes: int = 1_048_576, entity_type: str = EntityTypes.PRODUCT, key: str = "1"
) -> dict[str, Any]:
    """A realistic payload padded with many attribute values to at least `size_bytes` of JSON."""
    payload = sample_payload(entity_type, key)
    values: dict[str, Any] = {}
    payload["bulk_values"] = values
    base = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
    text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 16  # ~900 bytes
    entry = {"attr_00000": [{"locale": "en_US", "scope": "ecommerce", "data": text}]}
    # Compact JSON of one entry, without the braces, plus the separating comma.
    entry_size = len(json.dumps(entry, separators=(",", ":"))) - 2 + 1
    for i in range(-(-max(0, size_bytes - base) // entry_size)):
        values[f"attr_{i:05d}"] = [{"locale": "en_US", "scope": "ecommerce", "data": text}]
    return payload


def malformed_payload() -> dict[str, Any]:
    """Valid JSON with wrong shapes everywhere: drivers must reject it with a contract error."""
    return {
        "sku": None,
        "code": 42,
        "name": ["not", "a", "string"],
        "labels": "not-a-mapping",
        "values": [],
        "categories": {"0": "men"},
        "enabled": "yes",
        "nested": [[[[{}]]]],
        "": "empty key",
    }


def _changed_paths(payload: Mapping[str, Any], prefix: str = "") -> list[str]:
    paths: list[str] = []
    for key, value in payload.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            paths += _changed_paths(value, f"{path}.")
        else:
            paths.append(path)
    return paths


class MutationFactory:
    """Builds `MutationData` with deterministic uuids, event ids, times and versions."""

    def __init__(self, seed: int | None = 0) -> None:
        self._random = random.Random(seed)
        self._sequence = 0

    def uuid(self) -> str:
        """A new random (version 4) UUID, deterministic for the factory's seed."""
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def mutation(
        self,
        entity_type: str = EntityTypes.PRODUCT,
        operation: Operation | str = Operation.CREATED,
        payload: Mapping[str, Any] | None = None,
        *,
        entity_uuid: str | None = None,
        changed_fields: Iterable[str] | None = None,
        version: int | None = None,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> MutationData:
        """One mutation; the payload defaults to `sample_payload` (empty for deletes)."""
        op = Operation(operation)
        uuid_ = entity_uuid or self.uuid()
        if payload is None:
            payload = {} if op is Operation.DELETED else sample_payload(entity_type, uuid_[:8])
        if changed_fields is None:
            changed_fields = _changed_paths(payload) if op is Operation.CREATED else []
        self._sequence += 1
        return MutationData(
            entity_type=entity_type,
            entity_uuid=uuid_,
            operation=op,
            payload=payload,
            changed_fields=tuple(changed_fields),
            event_id=event_id or self.uuid(),
            occurred_at=occurred_at or _EPOCH + timedelta(seconds=self._sequence),
            version=version,
        )

    def lifecycle(
        self,
        entity_type: str = EntityTypes.PRODUCT,
        *,
        entity_uuid: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> tuple[MutationData, MutationData, MutationData]:
        """created → updated → deleted of one entity, versions 1..3.

        The update changes one top-level field (with `changed_fields` naming it); the delete
        carries an empty payload.
        """
        uuid_ = entity_uuid or self.uuid()
        created_payload = (
            dict(payload) if payload is not None else sample_payload(entity_type, uuid_[:8])
        )
        updated_payload = dict(created_payload)
        field: str = next(
            (k for k in ("enabled", "position", "sort_order", "active") if k in updated_payload),
            "updated",
        )
        current = updated_payload.get(field)
        if isinstance(current, bool):
            updated_payload[field] = not current
        elif isinstance(current, int):
            updated_payload[field] = current + 1
        else:
            updated_payload[field] = "2024-02-01T12:00:00+00:00"
        return (
            self.mutation(
                entity_type, Operation.CREATED, created_payload, entity_uuid=uuid_, version=1
            ),
            self.mutation(
                entity_type,
                Operation.UPDATED,
                updated_payload,
                entity_uuid=uuid_,
                changed_fields=[field],
                version=2,
            ),
            self.mutation(entity_type, Operation.DELETED, {}, entity_uuid=uuid_, version=3),
        )

    def mixed_batch(self, entity_type: str = EntityTypes.PRODUCT) -> list[MutationData]:
        """One entity type, mixed operations, as the runtime batches them.

        Three entities are created; the first is updated twice, the second deleted, a fourth
        created after that, the third updated, and an entity that never existed deleted.
        """
        a, b, c, d, unknown = (self.uuid() for _ in range(5))
        created = {
            u: self.mutation(entity_type, Operation.CREATED, entity_uuid=u, version=1)
            for u in (a, b, c)
        }
        first_update = dict(created[a].payload) | {"updated": "2024-02-01T12:00:00+00:00"}
        second_update = first_update | {"updated": "2024-02-02T12:00:00+00:00"}
        return [
            *created.values(),
            self.mutation(
                entity_type,
                "updated",
                first_update,
                entity_uuid=a,
                changed_fields=["updated"],
                version=2,
            ),
            self.mutation(entity_type, "deleted", entity_uuid=b, version=2),
            self.mutation(entity_type, "created", entity_uuid=d, version=1),
            self.mutation(
                entity_type,
                "updated",
                second_update,
                entity_uuid=a,
                changed_fields=["updated"],
                version=3,
            ),
            self.mutation(
                entity_type,
                "updated",
                dict(created[c].payload) | {"updated": "2024-02-03T12:00:00+00:00"},
                entity_uuid=c,
                changed_fields=["updated"],
                version=2,
            ),
            self.mutation(entity_type, "deleted", entity_uuid=unknown, version=7),
        ]


_RANDOM = MutationFactory(seed=None)


def make_mutation(
    entity_type: str = EntityTypes.PRODUCT,
    operation: Operation | str = Operation.CREATED,
    payload: Mapping[str, Any] | None = None,
    *,
    entity_uuid: str | None = None,
    changed_fields: Sequence[str] | None = None,
    version: int | None = None,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> MutationData:
    """One mutation with random uuids (see `MutationFactory.mutation`)."""
    return _RANDOM.mutation(
        entity_type,
        operation,
        payload,
        entity_uuid=entity_uuid,
        changed_fields=changed_fields,
        version=version,
        event_id=event_id,
        occurred_at=occurred_at,
    )


def lifecycle(
    entity_type: str = EntityTypes.PRODUCT, *, entity_uuid: str | None = None
) -> tuple[MutationData, MutationData, MutationData]:
    """created → updated → deleted of one entity with a random uuid."""
    return _RANDOM.lifecycle(entity_type, entity_uuid=entity_uuid)


def mixed_batch(entity_type: str = EntityTypes.PRODUCT) -> list[MutationData]:
    """A batch of one entity type with mixed operations (see `MutationFactory.mixed_batch`)."""
    return _RANDOM.mixed_batch(entity_type)
