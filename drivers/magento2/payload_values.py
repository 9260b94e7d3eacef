"""Reading IEC payloads, whichever of the shapes producers use (pure logic).

A field's value may be

* plain: ``"name": "Shirt"``, ``"price": [{"currency": "EUR", "amount": "9.95"}]``;
* localized: ``"name": {"en_US": "Shirt", "de_DE": "Hemd"}`` (every key a locale);
* a PIM value list: ``"values": {"name": [{"locale": "en_US", "scope": null, "data": ...}]}``;
* an attribute list: ``"attributes": [{"code": "fit", "locale": "en_US", "scope": "ecommerce",
  "value": ...}]``.

`read` turns each into a `Localized` value: locale (``None`` for unlocalized) → value,
keeping only values of the configured channel (or without one). Labels come from
``labels``/``label`` (localized) and fall back to the code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = [
    "Localized",
    "changed_fields",
    "label",
    "read",
    "reference",
    "references",
    "text",
    "value_fields",
]

Localized = dict[str | None, Any]
_LOCALE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]{2,4})*$")
_CONTAINERS = ("values", "attributes")


def _is_locale_map(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(k, str) and _LOCALE.match(k) for k in value)
    )


def _entries(items: Any, channel: str | None, key: str) -> Localized:
    out: Localized = {}
    for entry in items if isinstance(items, Sequence) and not isinstance(items, str) else ():
        if not isinstance(entry, Mapping):
            continue
        scope = entry.get("scope")
        if scope is not None and scope != channel:
            continue
        locale = entry.get("locale")
        out[locale if isinstance(locale, str) else None] = entry.get(key)
    return out


def read(payload: Mapping[str, Any], field: str, channel: str | None) -> Localized | None:
    """The value of `field` as locale → value, or None if the payload does not carry it."""
    if field in payload and field not in _CONTAINERS:
        value = payload[field]
        return dict(value) if _is_locale_map(value) else {None: value}
    values = payload.get("values")
    if isinstance(values, Mapping) and field in values:
        found = _entries(values[field], channel, "data")
        return found or None
    attributes = payload.get("attributes")
    if isinstance(attributes, Sequence) and not isinstance(attributes, str):
        matching = [a for a in attributes if isinstance(a, Mapping) and a.get("code") == field]
        found = _entries(matching, channel, "value")
        return found or None
    return None


def value_fields(payload: Mapping[str, Any]) -> Iterator[str]:
    """Names of the attribute values a payload carries (top level, values, attributes)."""
    yield from (k for k in payload if isinstance(k, str) and k not in _CONTAINERS)
    values = payload.get("values")
    if isinstance(values, Mapping):
        yield from (k for k in values if isinstance(k, str))
    attributes = payload.get("attributes")
    if isinstance(attributes, Sequence) and not isinstance(attributes, str):
        yield from (
            a["code"]
            for a in attributes
            if isinstance(a, Mapping) and isinstance(a.get("code"), str)
        )


def text(payload: Mapping[str, Any], key: str) -> str | None:
    """A non-empty string field (stripped), else None."""
    value = payload.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def label(payload: Mapping[str, Any]) -> Localized:
    """The entity's label per locale (``labels`` or ``label``); empty if it has none."""
    for key in ("labels", "label"):
        value = payload.get(key)
        if isinstance(value, Mapping) and _is_locale_map(value):
            return {k: v for k, v in value.items() if isinstance(v, str) and v.strip()}
        if isinstance(value, str) and value.strip():
            return {None: value}
    return {}


def reference(payload: Mapping[str, Any], key: str) -> str | None:
    """A single reference (a UUID or a code), e.g. a category's ``parent``."""
    return text(payload, key)


def references(payload: Mapping[str, Any], key: str) -> list[str] | None:
    """A list of references, e.g. a product's ``categories``; None if absent or malformed."""
    value = payload.get(key)
    if not isinstance(value, Sequence) or isinstance(value, str):
        return None
    return [v.strip() for v in value if isinstance(v, str) and v.strip()]


def changed_fields(changed: Sequence[str]) -> set[str]:
    """The top-level field names a mutation's ``changed_fields`` paths touch.

    ``values.name.en_US`` and ``attributes.fit`` name their attribute; ``name.de_DE`` names
    ``name``.
    """
    out: set[str] = set()
    for path in changed:
        parts = path.split(".")
        if parts[0] in _CONTAINERS and len(parts) > 1:
            out.add(parts[1])
        else:
            out.add(parts[0])
    return out
