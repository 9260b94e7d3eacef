"""Driver configuration schemas: pydantic models, or Laravel-style rule dicts.

(Interim version: pydantic models only. The Laravel rule translation lands next.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from contracts.driver import ConfigurationSchema
from contracts.errors import ConfigProblem, ConfigValidationError

__all__ = ["configuration_json_schema", "configuration_model", "validate_configuration"]


def configuration_model(schema: ConfigurationSchema) -> type[BaseModel]:
    """The pydantic model that validates `schema` (itself if it already is one)."""
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema
    raise TypeError("rule-dict schemas are not supported yet")


def validate_configuration(schema: ConfigurationSchema, data: Mapping[str, Any]) -> BaseModel:
    """Validate `data`; raise `ConfigValidationError` naming each field and rule, never values."""
    model = configuration_model(schema)
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigValidationError(
            [
                ConfigProblem(".".join(str(p) for p in err["loc"]) or "<root>", err["type"], err["msg"])
                for err in exc.errors(include_input=False, include_url=False)
            ]
        ) from None


def configuration_json_schema(schema: ConfigurationSchema) -> dict[str, Any]:
    """The JSON Schema of a driver's configuration (for `iec-connector drivers show`)."""
    return configuration_model(schema).model_json_schema()
