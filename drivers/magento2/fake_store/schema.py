"""Adobe's Magento 2.4.9 admin REST schema (Swagger 2.0), loaded once and made checkable.

`AdobeSchema` answers two questions for the fake store: which route of the schema a request
hits (`match`), and what is wrong with the request (`request_problems`) or with a response
the fake is about to send (`response_problems`). Bodies are checked with `jsonschema`
(Draft 4, the dialect Swagger 2.0 schemas use) against the schema's own definitions, changed
the way the research notes (§9) found Magento to behave:

* strict where Magento is strict: every object definition gets ``additionalProperties:
  false`` (Magento answers an unknown key with ``Property "X" does not have accessor
  method``);
* lenient where the schema is wrong: nested ``required`` lists (they copy getter
  nullability; real requests send two of a ``stock_item``'s 23 "required" fields) are kept
  only for identifying keys; numbers and integers may be numeric strings in requests
  (Magento casts them); a custom attribute's ``value`` may be any JSON value (arrays are
  real: ``category_ids``); error ``parameters`` may be a list or an object;
* search criteria: the schema declares only index 0 of ``filterGroups``/``filters``/
  ``sortOrders``; any index is accepted with index 0's type.

The schema file ships beside this module with Adobe's licence (Apache-2.0) and copyright.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import unquote

import referencing
from jsonschema import Draft4Validator
from referencing.jsonschema import DRAFT4

__all__ = ["NO_BODY", "AdobeSchema", "MatchedRoute", "RouteSpec"]

_SCHEMA_FILE = "admin-schema-2.4.9.json"
_BASE_URI = "urn:magento:admin-schema-2.4.9"
NO_BODY: Any = object()
"""Marker for a request without a body (distinct from a JSON ``null``)."""

# Nested `required` entries kept: the keys that identify what a request is about.
_KEPT_REQUIRED = frozenset({"sku", "attribute_code", "category_id", "attribute_set_name"})
# Definitions the schema gets wrong (§9): any JSON value is accepted there.
_ANY_VALUE_DEFINITIONS = ("error-parameters",)
_NUMERIC = r"^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
_INTEGER = r"^\s*-?\d+\s*$"
_INDEXED = re.compile(r"\[(\d+)\]")
_BOOLEAN_TEXT = frozenset({"true", "false", "1", "0"})


def _relax(node: Any, *, lenient_numbers: bool, top_level: bool) -> Any:
    """A copy of a schema node with §9's changes (see the module docstring)."""
    if isinstance(node, list):
        return [_relax(v, lenient_numbers=lenient_numbers, top_level=False) for v in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _relax(v, lenient_numbers=lenient_numbers, top_level=False)
        for k, v in node.items()
        if k != "xml" and not (k == "description" and isinstance(v, str))
    }
    if "properties" in out:
        out["additionalProperties"] = False
        if "required" in out and not top_level:
            kept = [name for name in out["required"] if name in _KEPT_REQUIRED]
            if kept:
                out["required"] = kept
            else:
                del out["required"]
        # §9: a custom attribute's value is mixed in PHP (arrays are real: category_ids).
        if set(out["properties"]) == {"attribute_code", "value"}:
            out["properties"]["value"] = {}
    kind = out.get("type")
    if lenient_numbers and kind in ("number", "integer"):
        pattern = _NUMERIC if kind == "number" else _INTEGER
        rest = {k: v for k, v in out.items() if k != "type"}
        return {"anyOf": [{"type": kind}, {"type": "string", "pattern": pattern}], **rest}
    return out


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One method of one path of the schema."""

    method: str
    template: str
    pattern: re.Pattern[str]
    literal_segments: int
    path_params: Mapping[str, str]
    """Path parameter name → Swagger type."""
    query_params: Mapping[str, str]
    """Query parameter name (indexes as in the schema) → Swagger type."""
    body_required: bool
    body_ref: str | None
    """JSON pointer of the request body schema inside the relaxed document."""
    response_refs: Mapping[str, str] = field(default_factory=dict)
    """Status ("200", "default", ...) → JSON pointer of the response schema."""


@dataclass(frozen=True, slots=True)
class MatchedRoute:
    spec: RouteSpec
    path_values: Mapping[str, str]
    """Path parameters, percent-decoded (a SKU's ``%2F`` is a ``/`` here)."""


def _compile(template: str) -> tuple[re.Pattern[str], int]:
    parts = template.strip("/").split("/")
    regex = "".join(
        f"/(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else "/" + re.escape(p) for p in parts
    )
    return re.compile(f"^{regex}$"), sum(1 for p in parts if not p.startswith("{"))


def _scalar_problem(name: str, kind: str, value: str) -> str | None:
    if kind == "integer" and not re.match(_INTEGER, value):
        return f"parameter {name}: {value!r} is not an integer"
    if kind == "number" and not re.match(_NUMERIC, value):
        return f"parameter {name}: {value!r} is not a number"
    if kind == "boolean" and value.lower() not in _BOOLEAN_TEXT:
        return f"parameter {name}: {value!r} is not a boolean"
    return None


class AdobeSchema:
    """The schema's routes and their validators (build it once: `AdobeSchema.load()`)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.title: str = document["info"]["title"]
        self.version: str = document["info"]["version"]
        bodies: dict[str, Any] = {}
        responses: dict[str, Any] = {}
        self._routes: dict[str, list[RouteSpec]] = {}
        for template, methods in document["paths"].items():
            pattern, literals = _compile(template)
            for method, operation in methods.items():
                path_params: dict[str, str] = {}
                query_params: dict[str, str] = {}
                body_ref: str | None = None
                body_required = False
                for param in operation.get("parameters", ()):
                    where = param["in"]
                    if where == "path":
                        path_params[param["name"]] = param.get("type", "string")
                    elif where == "query":
                        query_params[param["name"]] = param.get("type", "string")
                    elif where == "body":
                        key = operation["operationId"]
                        bodies[key] = param["schema"]
                        body_ref = f"{_BASE_URI}#/x-request-bodies/{key}"
                        body_required = True
                response_refs: dict[str, str] = {}
                for status, response in operation.get("responses", {}).items():
                    if "schema" in response:
                        key = f"{operation['operationId']}-{status}"
                        responses[key] = response["schema"]
                        response_refs[status] = f"{_BASE_URI}#/x-response-bodies/{key}"
                spec = RouteSpec(
                    method=method.upper(),
                    template=template,
                    pattern=pattern,
                    literal_segments=literals,
                    path_params=path_params,
                    query_params=query_params,
                    body_required=body_required,
                    body_ref=body_ref,
                    response_refs=response_refs,
                )
                self._routes.setdefault(spec.method, []).append(spec)
        for specs in self._routes.values():
            # Literal segments win over parameters (/categories/list before /categories/{id}).
            specs.sort(key=lambda s: -s.literal_segments)
        self._requests = self._validator_factory(document, bodies, lenient_numbers=True)
        self._responses = self._validator_factory(document, responses, lenient_numbers=False)
        self._cache: dict[str, Draft4Validator] = {}

    @staticmethod
    def _validator_factory(
        document: Mapping[str, Any], extra: Mapping[str, Any], *, lenient_numbers: bool
    ) -> referencing.Registry[Any]:
        definitions = {
            name: _relax(schema, lenient_numbers=lenient_numbers, top_level=False)
            for name, schema in document["definitions"].items()
        }
        for name in _ANY_VALUE_DEFINITIONS:
            definitions[name] = {}
        relaxed_extra = {
            name: _relax(schema, lenient_numbers=lenient_numbers, top_level=True)
            for name, schema in extra.items()
        }
        key = "x-request-bodies" if lenient_numbers else "x-response-bodies"
        contents = {"definitions": definitions, key: relaxed_extra}
        resource = referencing.Resource.from_contents(contents, default_specification=DRAFT4)
        registry: referencing.Registry[Any] = referencing.Registry().with_resource(
            _BASE_URI, resource
        )
        return registry

    @classmethod
    @cache
    def load(cls) -> AdobeSchema:
        """The shipped schema (parsed once per process)."""
        text = resources.files(__package__).joinpath(_SCHEMA_FILE).read_text("utf-8")
        return cls(json.loads(text))

    # -- routes ---------------------------------------------------------------------------
    def match(self, method: str, path: str) -> MatchedRoute | None:
        """The route `path` (below ``/rest/<store>``, still percent-encoded) hits, if any."""
        for spec in self._routes.get(method.upper(), ()):
            found = spec.pattern.match(path)
            if found:
                values = {k: unquote(v) for k, v in found.groupdict().items()}
                return MatchedRoute(spec, values)
        return None

    def templates(self, method: str) -> Iterable[str]:
        return (s.template for s in self._routes.get(method.upper(), ()))

    # -- validation -----------------------------------------------------------------------
    def _validator(self, ref: str, registry: referencing.Registry[Any]) -> Draft4Validator:
        validator = self._cache.get(ref)
        if validator is None:
            validator = Draft4Validator({"$ref": ref}, registry=registry)
            self._cache[ref] = validator
        return validator

    def body_problems(self, ref: str, body: Any) -> list[str]:
        """Problems of a request body against the schema at `ref` (a route's `body_ref`)."""
        validator = self._validator(ref, self._requests)
        return [_describe(e) for e in validator.iter_errors(body)]

    def request_problems(
        self, route: MatchedRoute, query: Iterable[tuple[str, str]], body: Any
    ) -> list[str]:
        """Everything the schema refuses in a request (empty: the request is valid)."""
        spec = route.spec
        problems: list[str] = []
        for name, kind in spec.path_params.items():
            problem = _scalar_problem(name, kind, route.path_values.get(name, ""))
            if problem:
                problems.append(problem)
        for name, value in query:
            declared = _INDEXED.sub("[0]", name)
            declared_kind = spec.query_params.get(declared)
            if declared_kind is None:
                problems.append(f"query parameter {name!r} is not declared for this route")
                continue
            problem = _scalar_problem(name, declared_kind, value)
            if problem:
                problems.append(problem)
        if body is NO_BODY:
            if spec.body_required:
                problems.append("the request has no body, the route requires one")
        elif spec.body_ref is None:
            problems.append("the route takes no body, the request has one")
        else:
            problems += self.body_problems(spec.body_ref, body)
        return problems

    def response_problems(self, route: MatchedRoute, status: int, body: Any) -> list[str]:
        """Problems of a response body against the route's schema for `status`."""
        refs = route.spec.response_refs
        ref = refs.get(str(status)) or refs.get("default")
        if ref is None:
            return [f"the schema declares no response {status} for {route.spec.template}"]
        validator = self._validator(ref, self._responses)
        return [_describe(e) for e in validator.iter_errors(body)]


def _describe(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    return f"{where}: {error.message}"
