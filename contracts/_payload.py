"""Read-only views of a mutation's JSON payload, and the payload still as JSON text.

`FrozenDict` and `FrozenList` are `dict`/`list` subclasses, so `json.dumps`, orjson, httpx and
equality with plain containers keep working, but every mutating method raises `TypeError`.

Freezing is lazy: a nested container is wrapped the first time it is read and the wrapper is
cached in place. Decoding therefore costs one shallow copy of the top level, not a walk of the
whole payload (the codec decodes tens of thousands of records per second; most drivers read a
handful of fields).

`JsonPayload` goes one step further: a payload that is still JSON object text, parsed into a
`FrozenDict` when it is first read (`MutationData.payload`). The codec hands payloads over
this way, so a record whose payload nobody reads never pays for parsing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn, SupportsIndex, overload

from pydantic_core import from_json

__all__ = ["FrozenDict", "FrozenList", "JsonPayload", "freeze", "thaw"]


def _readonly(*_args: object, **_kwargs: object) -> NoReturn:
    raise TypeError("MutationData.payload is read-only; copy it with thaw() to change it")


def freeze(value: Any) -> Any:
    """Wrap a JSON value in a read-only view (containers only; scalars are already immutable)."""
    cls = type(value)
    if cls is dict:
        return FrozenDict(value)
    if cls is list:
        return FrozenList(value)
    if cls is tuple:
        return FrozenList(value)
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})


def thaw(value: Any) -> Any:
    """Return a deep, mutable copy of a (possibly frozen) JSON value."""
    # Fast paths for plain JSON containers (MutationData copies every caller's payload).
    cls = type(value)
    if cls is JsonPayload:
        return thaw(value.parse())
    if cls is dict:
        return {k: v if type(v) in _SCALARS else thaw(v) for k, v in value.items()}
    if cls is list:
        return [v if type(v) in _SCALARS else thaw(v) for v in value]
    if isinstance(value, dict):
        return {k: thaw(dict.__getitem__(value, k)) for k in dict.__iter__(value)}
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [thaw(v) for v in list.__iter__(value)]
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def _load_object(text: bytes) -> FrozenDict:
    value = from_json(text)
    if type(value) is not dict:
        raise ValueError("payload must be a JSON object")
    return FrozenDict(value)


class JsonPayload:
    """A payload that is still JSON object text (UTF-8), parsed when first read.

    `MutationData(payload=JsonPayload(text))` keeps the text; `mutation.payload` parses it
    once (with `loads`, which must return a `FrozenDict` or raise) and keeps the result.
    A text that is not a JSON object makes that first read raise `loads`' error (the codec's
    is a permanent `CodecError`): whoever builds one should check what is cheap to check.
    """

    __slots__ = ("loads", "text")

    def __init__(self, text: bytes, loads: Callable[[bytes], FrozenDict] = _load_object) -> None:
        self.text = text
        self.loads = loads

    def parse(self) -> FrozenDict:
        return self.loads(self.text)

    def __repr__(self) -> str:
        return f"JsonPayload({len(self.text)} bytes)"


class FrozenDict(dict[str, Any]):
    """A `dict` whose mutators raise and whose nested containers are frozen on access."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        value = dict.__getitem__(self, key)
        cls = type(value)
        if cls is dict or cls is list:
            value = freeze(value)
            dict.__setitem__(self, key, value)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        if dict.__contains__(self, key):
            return self[key]
        return default

    def __iter__(self) -> Iterator[str]:
        # Overriding __iter__ makes dict(frozen) go through __getitem__ (CPython's merge
        # fast path is taken only for dicts with the stock iterator), so copies stay frozen.
        return dict.__iter__(self)

    def values(self) -> Any:
        return [self[k] for k in dict.__iter__(self)]

    def items(self) -> Any:
        return [(k, self[k]) for k in dict.__iter__(self)]

    def copy(self) -> FrozenDict:
        return FrozenDict(dict.copy(self))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (thaw(self),))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"

    __setitem__ = _readonly
    __delitem__ = _readonly
    __ior__ = _readonly
    clear = _readonly
    pop = _readonly
    popitem = _readonly
    setdefault = _readonly
    update = _readonly


class FrozenList(list[Any]):
    """A `list` whose mutators raise and whose nested containers are frozen on access."""

    __slots__ = ()

    @overload
    def __getitem__(self, index: SupportsIndex) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> FrozenList: ...
    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        if isinstance(index, slice):
            return FrozenList(list.__getitem__(self, index))
        value = list.__getitem__(self, index)
        cls = type(value)
        if cls is dict or cls is list:
            value = freeze(value)
            list.__setitem__(self, index, value)
        return value

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]

    def __reversed__(self) -> Iterator[Any]:
        for i in range(len(self) - 1, -1, -1):
            yield self[i]

    # list's own +, * and reversed() copy the raw items, which would hand out nested
    # containers that were not frozen yet; these go through __getitem__ instead.
    def __add__(self, other: Any) -> list[Any]:
        return [*self, *other]

    def __radd__(self, other: Any) -> list[Any]:
        return [*other, *self]

    def __mul__(self, count: SupportsIndex) -> list[Any]:
        return [*self] * count

    __rmul__ = __mul__

    def copy(self) -> FrozenList:
        return FrozenList(list.copy(self))

    def __copy__(self) -> FrozenList:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenList:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (thaw(self),))

    def __repr__(self) -> str:
        return f"FrozenList({list.__repr__(self)})"

    __setitem__ = _readonly
    __delitem__ = _readonly
    __iadd__ = _readonly
    __imul__ = _readonly
    append = _readonly
    extend = _readonly
    insert = _readonly
    pop = _readonly
    remove = _readonly
    reverse = _readonly
    sort = _readonly
    clear = _readonly
