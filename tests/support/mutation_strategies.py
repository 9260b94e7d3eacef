"""Hypothesis strategies of valid `MutationData` (any payload and metadata); a product factory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from contracts import MutationData, Operation

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
JSON_SCALARS = (
    st.none() | st.booleans() | INT64 | st.floats(allow_nan=False, allow_infinity=False) | TEXT
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(TEXT, children, max_size=5),
    max_leaves=40,
)
PAYLOADS = st.dictionaries(TEXT, JSON_VALUES, max_size=12)
NAMES = st.text(st.characters(codec="utf-8"), min_size=1, max_size=60)
AWARE_DATETIMES = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
)


@st.composite
def mutations(draw: st.DrawFn) -> MutationData:
    """Any valid `MutationData`, optional metadata included."""
    return MutationData(
        entity_type=draw(NAMES),
        entity_uuid=draw(NAMES),
        operation=draw(st.sampled_from(Operation)),
        payload=draw(PAYLOADS),
        changed_fields=draw(st.lists(TEXT, max_size=6)),
        event_id=draw(st.none() | NAMES),
        occurred_at=draw(st.none() | AWARE_DATETIMES),
        version=draw(st.none() | INT64),
    )


def product(**overrides: Any) -> MutationData:
    """A typical product update."""
    fields: dict[str, Any] = {
        "entity_type": "product",
        "entity_uuid": "2f0c7d1e-8a0b-4d5c-9e6f-7a8b9c0d1e2f",
        "operation": Operation.UPDATED,
        "payload": {
            "sku": "SHOE-44",
            "values": [{"code": "name", "locale": "de_DE", "scope": None, "value": "Schuh ü"}],
            "price": 129.9,
        },
        "changed_fields": ("values.name.de_DE",),
        "event_id": "evt-1",
        "occurred_at": datetime(2024, 6, 12, 14, 5, 11, 123456, tzinfo=UTC),
        "version": 7,
    }
    fields.update(overrides)
    return MutationData(**fields)
