"""Turning pydantic validation errors into `ConfigProblem`s with readable paths and hints.

Paths look like ``integrations[0].batch.max_records``. A validator that checks several fields
at once points at the right one by raising ``PydanticCustomError(rule, message, {"at": path})``
where `path` is relative to the model it validates. Messages never carry the rejected value.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from connector.config.interpolation import join_path
from connector.redaction import Redactor
from contracts import ConfigProblem
from contracts.secrecy import FoundSecret

__all__ = ["format_loc", "normalize_path", "problems_from_validation_error"]


def format_loc(loc: Sequence[str | int]) -> str:
    """``("integrations", 0, "uuid")`` -> ``integrations[0].uuid``."""
    path = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the key itself failed", not a path step
            continue
        path = join_path(path, part)
    return path


def normalize_path(dotted: str) -> str:
    """A dotted path with numeric parts (``items.0.sku``) in bracket form (``items[0].sku``)."""
    path = ""
    for part in dotted.split("."):
        path = join_path(path, int(part) if part.isdigit() else part)
    return path


def problems_from_validation_error(
    exc: ValidationError,
    *,
    root: type[BaseModel] | None = None,
    prefix: str = "",
    secrets: Iterable[str | FoundSecret] = (),
) -> list[ConfigProblem]:
    """One problem per error; unknown keys get a did-you-mean hint from `root`'s fields."""
    redactor = Redactor(secrets)
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(error["loc"])
        path = format_loc(loc)
        context = error.get("ctx") or {}
        at = context.get("at")
        if isinstance(at, str):
            path = f"{path}{at}" if at.startswith("[") or not path else f"{path}.{at}"
        rule = str(error["type"])
        message = str(error["msg"])
        # "required" and "unknown" as `contracts.validate_configuration` says for driver configs.
        if rule == "missing":
            rule, message = "required", "is required"
        elif rule == "value_error":
            message = message.removeprefix("Value error, ")
        elif rule == "extra_forbidden":
            rule, message = "unknown", _unknown_key_message(root, loc)
        if prefix:
            path = join_path(prefix, path) if path else prefix
        problems.append(ConfigProblem(path or "<root>", rule, redactor.redact(message)))
    return problems


def _unknown_key_message(root: type[BaseModel] | None, loc: Sequence[str | int]) -> str:
    model = _model_at(root, loc[:-1]) if root is not None else None
    unknown = "is not a known configuration key"
    if model is None or not loc or not isinstance(loc[-1], str):
        return unknown
    known = sorted(model.model_fields)
    close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
    if close:
        return f"{unknown}; did you mean '{close[0]}'?"
    return f"{unknown}; known keys here: {', '.join(known)}"


def _model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that validates the value at `loc` below `root`, if it is a model."""
    current: Any = root
    for part in loc:
        current = _unwrap_optional(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            if typing.get_origin(current) not in (list, tuple) or not args:
                return None
            current = args[0]
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                return None
            current = field.annotation
        else:
            return None
    current = _unwrap_optional(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation
