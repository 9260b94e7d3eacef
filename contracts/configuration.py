"""Driver configuration schemas: a pydantic model, or Laravel-style rule dicts.

`get_configuration_schema()` returns either a pydantic model class or rules such as
``{"base_url": "required|url", "api_key": "required|string"}`` (translated by
`contracts._rules`, whose docstring lists the supported rules and the few deliberate
differences from Laravel; notably, unknown keys are rejected with rule ``unknown``).

Whatever the schema, a failed validation raises `ConfigValidationError` with one
`ConfigProblem(path, rule, message)` per failing field; no message ever contains a value.
Secrets are defined once, in `contracts.secrecy`: `SecretStr`/`SecretBytes` fields, fields
whose name is secret (`is_secret_name`: password, token, api_key, access_key, db_pass, ...;
not token_url or partition_key;
rule-dict fields of that name come out as `SecretStr`, model fields keep their type) and
everything below them, and credentials embedded in URLs/DSNs. `secret_fields()` names them,
`secret_values()` lists their values so the runtime can redact them from logs and
dead-letter headers.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from contracts._rules import RuleSchema, RuleSchemaError, build_model, rule_info
from contracts.driver import ConfigurationSchema
from contracts.errors import ConfigProblem, ConfigValidationError
from contracts.secrecy import find_secrets, is_secret_name

__all__ = [
    "RuleSchemaError",
    "configuration_json_schema",
    "configuration_model",
    "secret_fields",
    "secret_values",
    "validate_configuration",
]

_REDACTED = "<redacted>"


def configuration_model(schema: ConfigurationSchema) -> type[BaseModel]:
    """The pydantic model that validates `schema` (itself if it already is one).

    Rule dicts are translated once and cached; an unsupported rule raises `RuleSchemaError`
    (a `ConfigurationError` and a `TypeError`) naming the field and the rule.
    """
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema
    if isinstance(schema, Mapping):
        return _translate(_freeze_rules(schema))
    raise RuleSchemaError(
        f"a configuration schema is a pydantic model class or a mapping of rules, "
        f"not {type(schema).__name__}"
    )


def _freeze_rules(schema: RuleSchema) -> tuple[tuple[Any, Any], ...]:
    return tuple(
        (
            key,
            rules
            if isinstance(rules, str)
            else tuple(rules)
            if isinstance(rules, list | tuple)
            else rules,
        )
        for key, rules in schema.items()
    )


@functools.lru_cache(maxsize=256)
def _translate(frozen: tuple[tuple[Any, Any], ...]) -> type[BaseModel]:
    return build_model(dict(frozen))


def validate_configuration(schema: ConfigurationSchema, data: Mapping[str, Any]) -> BaseModel:
    """Validate `data`; raise `ConfigValidationError` naming each field and rule, never values."""
    model = configuration_model(schema)
    if not isinstance(typing.cast(object, data), Mapping):
        raise ConfigValidationError(
            [
                ConfigProblem(
                    "<root>", "array", "the configuration must be a mapping of keys to values"
                )
            ]
        )
    problems: list[ConfigProblem]
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        problems = _problems(model, exc, data)
    # Raised outside the `except` block so that neither __cause__ nor __context__ carries the
    # pydantic error (whose inputs may be secrets).
    raise ConfigValidationError(problems)


def configuration_json_schema(schema: ConfigurationSchema) -> dict[str, Any]:
    """The JSON Schema of a driver's configuration (for `iec-connector drivers show`)."""
    return configuration_model(schema).model_json_schema()


def secret_fields(schema: ConfigurationSchema) -> frozenset[str]:
    """Dotted paths of the secret fields of `schema` (by the keys users write, i.e. aliases)."""
    model = configuration_model(schema)
    info = rule_info(model)
    if info is not None:
        return info.secret_paths
    return frozenset(_model_secret_paths(model, ""))


def secret_values(validated: BaseModel) -> list[str]:
    """The non-empty secret values of a validated configuration, longest first (for redaction)."""
    info = rule_info(type(validated))
    found = find_secrets(validated, paths=info.secret_paths if info else ())
    return sorted({secret.value for secret in found}, key=lambda s: (-len(s), s))


# -- internals ------------------------------------------------------------------------------


def _problems(
    model: type[BaseModel], exc: ValidationError, data: Mapping[str, Any]
) -> list[ConfigProblem]:
    info = rule_info(model)
    secret_paths = info.secret_paths if info else _model_secret_paths(model, "")
    secrets = sorted(
        {s.value for s in find_secrets(data, paths=secret_paths)}, key=len, reverse=True
    )
    problems = []
    for err in exc.errors(include_url=False, include_context=False):
        path = ".".join(str(p) for p in err["loc"]) or "<root>"
        kind = err["type"]
        if kind == "missing":
            rule = info.presence.get(path, "required") if info else "required"
            message = "must be present" if rule == "present" else "is required"
        elif kind == "extra_forbidden":
            rule, message = "unknown", "is not a known configuration key"
        elif info is not None:
            rule, message = kind, err["msg"]  # written by contracts._rules, never with a value
        else:
            rule = kind
            message = _redact(err["msg"], err.get("input"), secrets, kind, path in secret_paths)
        problems.append(ConfigProblem(path, rule, message))
    return problems


def _redact(message: str, value: Any, secrets: list[str], kind: str, secret_field: bool) -> str:
    """Remove the input from a message written by pydantic or by a model's own validator."""
    if secret_field and kind in ("value_error", "assertion_error"):
        # A model's own validator wrote this message and may have quoted the secret.
        return "is invalid"
    for secret in secrets:
        message = message.replace(secret, _REDACTED)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value)
        # Very short inputs ("1", "a") would mangle the message and reveal little.
        if len(text) >= 3 or (secret_field and text):
            message = message.replace(text, _REDACTED)
    return message


def _is_secret_type(annotation: Any) -> bool:
    if annotation in (SecretStr, SecretBytes):
        return True
    if typing.get_origin(annotation) is typing.Annotated:
        return _is_secret_type(typing.get_args(annotation)[0])
    return any(_is_secret_type(arg) for arg in typing.get_args(annotation))


def _nested_models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    elif isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            yield from _nested_models(arg)


def _model_secret_paths(
    model: type[BaseModel],
    prefix: str,
    seen: frozenset[type] = frozenset(),
    inherited: bool = False,
) -> set[str]:
    """Paths of secret-typed or secret-named fields and of everything below them."""
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = f"{prefix}{key}"
        secret = inherited or is_secret_name(key) or _is_secret_type(info.annotation)
        if secret:
            paths.add(path)
        for nested in _nested_models(info.annotation):
            if nested not in seen:
                paths |= _model_secret_paths(nested, f"{path}.", seen | {model}, secret)
    return paths
