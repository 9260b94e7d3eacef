"""`RuleConfiguration`: the base of the models generated from Laravel-style rule schemas.

What a driver with a rule schema gets as ``self.config``. Every declared key is reachable
under its own name:

* always as an item: ``config["api-key"]``, ``config["schema"]``, ``config["credentials"]``
  (and a dotted path into nested keys: ``config["credentials.user"]``);
* as an attribute whenever the key is a Python identifier that pydantic does not need for
  itself: ``config.base_url``, ``config.schema``, ``config.json`` (the deprecated pydantic-v1
  method names are given to the keys). Keys that are not identifiers (``api-key``), Python
  keywords (``class``), start with an underscore, or name one of pydantic's own ``model_*``
  members are items only.

``key in config`` tells whether the schema declares a key. The model is frozen; validation
and serialisation use the keys as written (``model_dump()`` gives ``{"api-key": ...}``).
"""

from __future__ import annotations

import functools
import keyword
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

__all__ = ["RuleConfiguration", "attribute_names"]

_PYDANTIC_OWN = frozenset(name for name in dir(BaseModel) if name.startswith("model_"))


def _usable(key: str) -> bool:
    return (
        key.isidentifier()
        and not keyword.iskeyword(key)
        and not key.startswith("_")
        and key not in _PYDANTIC_OWN
    )


def attribute_names(keys: Iterable[str]) -> dict[str, str]:
    """Key → the model's field name: the key itself where `_usable`, else a free
    ``field_<n>`` name (which no declared key uses)."""
    keys = list(keys)
    taken = {key for key in keys if _usable(key)}
    names: dict[str, str] = {}
    for index, key in enumerate(keys):
        if _usable(key):
            names[key] = key
            continue
        name = f"field_{index}"
        while name in taken:
            name += "_"
        taken.add(name)
        names[key] = name
    return names


@functools.cache
def _fields_by_key(model: type[BaseModel]) -> dict[str, str]:
    return {info.alias or name: name for name, info in model.model_fields.items()}


class RuleConfiguration(BaseModel):
    """A validated rule-schema configuration; see the module docstring."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        serialize_by_alias=True,
        validate_by_alias=True,
        validate_by_name=False,
        hide_input_in_errors=True,
        protected_namespaces=(),
    )

    if TYPE_CHECKING:
        # The fields are generated from the schema: any attribute may exist for a type checker.
        def __getattr__(self, name: str) -> Any: ...

    def __getitem__(self, key: str) -> Any:
        name = _fields_by_key(type(self)).get(key)
        if name is not None:
            return self.__dict__[name]
        head, dot, rest = key.partition(".")
        if dot and head in _fields_by_key(type(self)):
            inner = self[head]
            if isinstance(inner, RuleConfiguration):
                return inner[rest]
        raise KeyError(key)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # The keys as written (``api-key=...``), not the generated ``field_<n>`` names.
        for name, info in type(self).model_fields.items():
            if info.repr:
                yield info.alias or name, self.__dict__[name]

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self[key]
        except KeyError:
            return False
        return True
