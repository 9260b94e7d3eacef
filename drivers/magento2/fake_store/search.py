"""`SearchCriteria`: Magento's ``searchCriteria[...]`` query, parsed and applied to items.

Filter groups are ANDed, the filters of one group ORed (Magento's semantics); conditions
``eq`` (the default), ``neq``, ``in``, ``nin``, ``like`` (``%`` wildcards), ``null`` and
``notnull`` are supported. Items are JSON objects as the store returns them; a field is
looked up at the top level, then among ``custom_attributes``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SearchCriteria"]

_FILTER = re.compile(r"^searchCriteria\[filterGroups\]\[(\d+)\]\[filters\]\[(\d+)\]\[(\w+)\]$")


@dataclass(frozen=True, slots=True)
class _Filter:
    field: str
    value: str
    condition: str = "eq"


@dataclass(frozen=True, slots=True)
class SearchCriteria:
    groups: tuple[tuple[_Filter, ...], ...] = ()
    page_size: int | None = None
    current_page: int = 1
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, query: Iterable[tuple[str, str]]) -> SearchCriteria:
        parts: dict[tuple[int, int], dict[str, str]] = {}
        page_size: int | None = None
        current_page = 1
        for name, value in query:
            found = _FILTER.match(name)
            if found:
                key = (int(found.group(1)), int(found.group(2)))
                parts.setdefault(key, {})[found.group(3)] = value
            elif name == "searchCriteria[pageSize]":
                page_size = int(value)
            elif name == "searchCriteria[currentPage]":
                current_page = max(1, int(value))
        grouped: dict[int, list[_Filter]] = {}
        for (group, _index), spec in sorted(parts.items()):
            grouped.setdefault(group, []).append(
                _Filter(
                    spec.get("field", ""), spec.get("value", ""), spec.get("conditionType", "eq")
                )
            )
        return cls(tuple(tuple(g) for _k, g in sorted(grouped.items())), page_size, current_page)

    def apply(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The search result object (``items``, ``search_criteria``, ``total_count``)."""
        matching = [i for i in items if all(any(_test(f, i) for f in g) for g in self.groups)]
        page = matching
        if self.page_size:
            start = (self.current_page - 1) * self.page_size
            page = matching[start : start + self.page_size]
        criteria: dict[str, Any] = {
            "filter_groups": [
                {
                    "filters": [
                        {"field": f.field, "value": f.value, "condition_type": f.condition}
                        for f in g
                    ]
                }
                for g in self.groups
            ]
        }
        if self.page_size:
            criteria["page_size"] = self.page_size
            criteria["current_page"] = self.current_page
        return {"items": list(page), "search_criteria": criteria, "total_count": len(matching)}


def _lookup(item: Mapping[str, Any], name: str) -> Any:
    if name in item:
        return item[name]
    for custom in item.get("custom_attributes") or ():
        if custom.get("attribute_code") == name:
            return custom.get("value")
    return None


def _test(spec: _Filter, item: Mapping[str, Any]) -> bool:
    value = _lookup(item, spec.field)
    text = "" if value is None else str(value)
    if spec.condition == "eq":
        return value is not None and text == spec.value
    if spec.condition == "neq":
        return text != spec.value
    if spec.condition in ("in", "nin"):
        inside = text in {v.strip() for v in spec.value.split(",")}
        return inside if spec.condition == "in" else not inside
    if spec.condition == "like":
        pattern = "^" + ".*".join(re.escape(p) for p in spec.value.split("%")) + "$"
        return re.match(pattern, text, re.IGNORECASE) is not None
    if spec.condition == "null":
        return value is None
    if spec.condition == "notnull":
        return value is not None
    return False
