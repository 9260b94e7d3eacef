"""Encode and decode `MutationData` as framed Avro record values.

The value is the `iec.mutations.v1.MutationData` Avro record (``schemas/mutation_data.avsc``)
behind one of two framings (see `connector.codec.framing`): Avro single-object encoding with
the writer schema found in a local `SchemaCatalogue`, or the Confluent Schema Registry wire
format with the writer schema looked up by id. `decode` detects the framing from the first
bytes, so a consumer reads both.

`payload` travels as a ``string`` holding UTF-8 JSON object text (readable by every Avro tool);
it must be a JSON object, and is parsed with orjson into a read-only `FrozenDict` when first
read (`contracts.JsonPayload`): a no-op or routing driver never pays for parsing it.

Speed (bench/codec_bench.py): when the writer schema is the current one, the codec reads and
writes through a *wire twin* of the schema with the same binary encoding: `payload` typed
``bytes`` instead of ``string`` (both are a length plus raw bytes; orjson takes and validates the
raw UTF-8 without a ``str`` round trip) and `occurred_at` a plain ``long`` (the codec converts
microseconds itself, cheaper than fastavro's logical-type hooks). Reader/writer schema
resolution runs only when the writer schema differs from the reader's: it doubles the cost.
A naive `occurred_at` is taken as UTC; decoded datetimes are UTC-aware.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any, NamedTuple

import orjson
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from pydantic import ValidationError

from connector.codec.catalogue import CatalogueEntry, SchemaCatalogue, default_catalogue
from connector.codec.errors import CodecError, SchemaRegistryUnavailableError
from connector.codec.framing import Framing, confluent_header, parse_header, single_object_header
from connector.topics import TopicSettings
from contracts import ConfigurationError, FrozenDict, JsonPayload, MutationData
from schemas import load_schema, schema_text

__all__ = ["MutationCodec"]

_SCHEMA_NAME = "mutation_data"
_MAX_DETAIL = 200
_validate: Callable[[Any], MutationData] = MutationData.__pydantic_validator__.validate_python
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MICROS_TYPE = {"type": "long", "logicalType": "timestamp-micros"}
_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
_JSON_KINDS[type(None)] = "null"


class _ReadPlan(NamedTuple):
    """How to read bodies written with one writer schema."""

    writer: dict[str, Any]
    reader: dict[str, Any] | None
    """None when the writer is the current schema: no resolution (it doubles the cost)."""
    micros_occurred_at: bool
    """`occurred_at` comes as microseconds since the epoch (the wire twin), not a datetime."""


def _wire_twin(source: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The schema with the same binary encoding and cheaper Python types (module docstring),
    and whether its `occurred_at` is plain microseconds."""
    twin = copy.deepcopy(dict(source))
    micros = False
    for field in twin.get("fields", ()):
        if field.get("name") == "payload" and field.get("type") == "string":
            field["type"] = "bytes"
        elif field.get("name") == "occurred_at" and field.get("type") == ["null", _MICROS_TYPE]:
            field["type"] = ["null", "long"]
            micros = True
    return CatalogueEntry.of(twin).parsed, micros


def _micros(moment: datetime) -> int:
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _detail(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def _schema_name(schema: Any) -> str:
    name = schema.get("name") if isinstance(schema, dict) else None
    return str(name) if name else "an unnamed schema"


def _field_changes(writer: Any, reader: Any) -> str:
    """Which fields keep two versions of one record from resolving (at most three named)."""

    def fields(schema: Any) -> dict[str, Any]:
        listed = schema.get("fields", []) if isinstance(schema, dict) else []
        return {f["name"]: f for f in listed if isinstance(f, dict) and "name" in f}

    def type_text(field: Any) -> str:
        return orjson.dumps(field.get("type"), option=orjson.OPT_SORT_KEYS, default=str).decode()

    written, read = fields(writer), fields(reader)
    changed = [n for n in read if n in written and type_text(read[n]) != type_text(written[n])]
    missing = [n for n in read if n not in written and "default" not in read[n]]
    parts = []
    if changed:
        parts.append(f"field(s) {', '.join(changed[:3])} changed type")
    if missing:
        parts.append(f"field(s) {', '.join(missing[:3])} missing from the writer, without default")
    return "; ".join(parts)


def _incompatibility(plan: _ReadPlan, exc: SchemaResolutionError) -> str:
    """Why the writer schema does not resolve, in a sentence: fastavro's own message quotes
    both schemas whole (kilobytes), so only its short messages are kept."""
    writer, reader = _schema_name(plan.writer), _schema_name(plan.reader)
    text = str(exc)
    if text.startswith("Schema mismatch"):
        if writer != reader:
            why = "a different record"
        else:
            why = _field_changes(plan.writer, plan.reader) or "the schemas do not resolve"
        detail = f"{why} (see schemas/EVOLUTION.md)"
    else:
        detail = _detail(exc)
    return f"the writer schema {writer} cannot be read as {reader}: {detail}"


def _describe(exc: ValidationError) -> str:
    # Never include input values: a payload may carry anything, secrets included.
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'record'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    )


class MutationCodec:
    """Turns `MutationData` into framed Avro bytes and back; thread-safe, caches schemas.

    `framing` chooses what `encode` writes; `decode` reads either framing. The Confluent
    framing needs `schema_registry_client` (``confluent_kafka.schema_registry``); the subject
    is ``<topic>-value`` (TopicNameStrategy) with the topic from `topics`, and the schema is
    registered on the first encode per subject (or only looked up, with
    ``auto_register=False``). Every failure raises `CodecError` with a `reason`, except the
    registry's own: `SchemaRegistryUnavailableError` (transient) when it cannot answer,
    `ConfigurationError` when it refuses the credentials.
    """

    def __init__(
        self,
        *,
        framing: Framing = Framing.SINGLE_OBJECT,
        catalogue: SchemaCatalogue | None = None,
        schema_registry_client: SchemaRegistryClient | None = None,
        topics: TopicSettings | None = None,
        auto_register: bool = True,
    ) -> None:
        if framing is Framing.CONFLUENT and schema_registry_client is None:
            raise ValueError("the schema-registry framing needs a schema_registry_client")
        self._framing = framing
        self._catalogue = catalogue if catalogue is not None else default_catalogue()
        self._registry = schema_registry_client
        self._topics = topics if topics is not None else TopicSettings()
        self._auto_register = auto_register

        self._current = self._catalogue.register(load_schema(_SCHEMA_NAME))
        self._schema_text = schema_text(_SCHEMA_NAME).strip()
        self._fast, self._micros_occurred_at = _wire_twin(self._current.source)
        self._fast_plan = _ReadPlan(self._fast, None, self._micros_occurred_at)
        self._single_object_header = single_object_header(self._current.fingerprint)
        self._plans_by_fingerprint: dict[bytes, _ReadPlan] = {
            self._current.fingerprint: self._fast_plan
        }
        self._plans_by_schema_id: dict[int, _ReadPlan] = {}
        self._plans_by_confluent_header: dict[bytes, _ReadPlan] = {}
        self._confluent_headers: dict[str, bytes] = {}

    @property
    def framing(self) -> Framing:
        """The framing `encode` writes."""
        return self._framing

    @property
    def catalogue(self) -> SchemaCatalogue:
        return self._catalogue

    # -- encoding -------------------------------------------------------------------------

    def encode(self, mutation: MutationData) -> bytes:
        """The framed Avro value of `mutation`."""
        if self._framing is Framing.SINGLE_OBJECT:
            header = self._single_object_header
        else:
            header = self._confluent_headers.get(mutation.entity_type) or self._register(
                mutation.entity_type
            )
        try:
            payload = orjson.dumps(mutation.payload)
        except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
            raise CodecError("payload-json", f"payload is not JSON-serialisable: {exc}") from exc
        record = {
            "entity_type": mutation.entity_type,
            "entity_uuid": mutation.entity_uuid,
            "operation": mutation.operation.value,
            "payload": payload,
            "changed_fields": mutation.changed_fields,
            "event_id": mutation.event_id,
            "occurred_at": (
                _micros(mutation.occurred_at)
                if self._micros_occurred_at and mutation.occurred_at is not None
                else mutation.occurred_at
            ),
            "version": mutation.version,
        }
        out = BytesIO()
        out.write(header)
        try:
            schemaless_writer(out, self._fast, record)
        except Exception as exc:  # fastavro raises many types for unencodable values
            raise CodecError("avro", f"cannot encode the record: {_detail(exc)}") from exc
        return out.getvalue()

    def _register(self, entity_type: str) -> bytes:
        registry = self._registry
        assert registry is not None  # the constructor requires it for this framing
        subject = f"{self._topics.mutation_topic(entity_type)}-value"
        # The full schema (docs, defaults): the registry checks compatibility with it.
        schema = Schema(self._schema_text, "AVRO")
        schema_id: int | None
        try:
            if self._auto_register:
                schema_id = registry.register_schema(subject, schema)
            else:
                schema_id = registry.lookup_schema(subject, schema).schema_id
        except Exception as exc:
            raise _registry_failure(exc, f"subject {subject!r}") from exc
        if schema_id is None:
            raise SchemaRegistryUnavailableError(f"the schema registry gave no id for {subject!r}")
        header = confluent_header(schema_id)
        self._confluent_headers[entity_type] = header
        return header

    # -- decoding -------------------------------------------------------------------------

    def decode(self, data: bytes | None) -> MutationData:
        """The `MutationData` in a framed Avro value; `CodecError` if it is not one."""
        if data is None:
            raise CodecError("empty", "the record value is null (a tombstone)")
        # Fast paths first: the current schema's single-object header, a known registry id.
        if data.startswith(self._single_object_header):
            plan, offset = self._fast_plan, len(self._single_object_header)
        else:
            known = self._plans_by_confluent_header.get(data[:5])
            plan, offset = (known, 5) if known is not None else self._plan_for_header(data)

        body = BytesIO(data)
        body.seek(offset)
        try:
            value = schemaless_reader(body, plan.writer, plan.reader)
            if type(value) is not dict:  # the schema is a record: never happens
                raise ValueError(f"the body decoded to {type(value).__name__}, not a record")
            record: dict[str, Any] = value
            if plan.micros_occurred_at and record["occurred_at"] is not None:
                record["occurred_at"] = _EPOCH + timedelta(microseconds=record["occurred_at"])
        except SchemaResolutionError as exc:
            raise CodecError("incompatible-schema", _incompatibility(plan, exc)) from exc
        except Exception as exc:  # fastavro raises EOFError, ValueError, IndexError, ...
            raise CodecError("avro", f"the Avro body does not decode: {_detail(exc)}") from exc
        end = body.tell()
        if end != len(data):
            raise CodecError(
                "trailing-bytes", f"{len(data) - end} bytes follow the Avro body of {end} bytes"
            )
        return _to_mutation(record)

    def _plan_for_header(self, data: bytes) -> tuple[_ReadPlan, int]:
        framing, ident, offset = parse_header(data)
        if framing is Framing.SINGLE_OBJECT:
            assert isinstance(ident, bytes)
            plan = self._plans_by_fingerprint.get(ident) or self._plan_for_fingerprint(ident)
        else:
            assert isinstance(ident, int)
            plan = self._plans_by_schema_id.get(ident) or self._plan_for_schema_id(ident)
            self._plans_by_confluent_header[data[:offset]] = plan
        return plan, offset

    def _plan_for_fingerprint(self, fingerprint: bytes) -> _ReadPlan:
        plan = self._plan_for(self._catalogue.get(fingerprint))
        self._plans_by_fingerprint[fingerprint] = plan
        return plan

    def _plan_for_schema_id(self, schema_id: int) -> _ReadPlan:
        if self._registry is None:
            raise CodecError(
                "unknown-schema-id",
                f"the value names schema-registry schema id {schema_id}, "
                "but no schema registry is configured",
            )
        try:
            schema = self._registry.get_schema(schema_id)
        except Exception as exc:
            raise _registry_failure(exc, f"schema id {schema_id}") from exc
        if (schema.schema_type or "AVRO") != "AVRO":
            raise CodecError(
                "unknown-schema-id", f"schema id {schema_id} is {schema.schema_type}, not Avro"
            )
        try:
            entry = CatalogueEntry.of(schema.schema_str or "")
        except ValueError as exc:
            raise CodecError(
                "unknown-schema-id", f"schema id {schema_id} is not a usable Avro schema: {exc}"
            ) from exc
        plan = self._plan_for(entry)
        self._plans_by_schema_id[schema_id] = plan
        return plan

    def _plan_for(self, entry: CatalogueEntry) -> _ReadPlan:
        if entry.canonical_form == self._current.canonical_form:
            return self._fast_plan
        return _ReadPlan(entry.parsed, self._current.parsed, micros_occurred_at=False)


def _load_payload(text: bytes | str) -> FrozenDict:
    """The payload's JSON object text, parsed (`CodecError` ``payload-json`` if it is not)."""
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CodecError("payload-json", f"payload is not JSON text: {exc}") from exc
    if type(payload) is not dict:
        kind = _JSON_KINDS.get(type(payload), "value")
        raise CodecError("payload-json", f"payload is a JSON {kind}, not an object")
    return FrozenDict(payload)


_JSON_SPACE = b" \t\r\n"


def _lazy_payload(text: bytes | str) -> JsonPayload:
    """The payload kept as text and parsed when a driver first reads it.

    What is cheap is checked now, so that a payload that is not a JSON object at all fails
    the decode (``payload-json``) as before: the text must be UTF-8 and look like an object
    (``{`` … ``}``). Only a malformed object text (``{"a": }``) is found later: the driver's
    first read of `payload` raises the same `CodecError`, a permanent failure that
    dead-letters the record at stage ``handle``.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            _load_payload(data)  # raises the precise CodecError
    if data[:1] != b"{" or data[-1:] != b"}":
        stripped = data.strip(_JSON_SPACE)
        if stripped[:1] != b"{" or stripped[-1:] != b"}":
            _load_payload(data)  # raises the precise CodecError (or it is one after all)
    return JsonPayload(data, _load_payload)


def _to_mutation(record: dict[str, Any]) -> MutationData:
    record["payload"] = _lazy_payload(record["payload"])
    try:
        return _validate(record)
    except ValidationError as exc:
        raise CodecError("invalid-mutation", _describe(exc)) from exc


def _registry_failure(exc: Exception, what: str) -> Exception:
    """Map a registry client error: unknown or refused → `CodecError`, credentials refused →
    `ConfigurationError` (retrying won't help), anything else → transient."""
    status = getattr(exc, "http_status_code", None)
    if status in (401, 403):
        return ConfigurationError(
            f"the schema registry refused the client's credentials for {what} (HTTP {status})"
        )
    if status == 404:
        return CodecError("unknown-schema-id", f"the schema registry does not know {what}")
    if status in (409, 422):
        return CodecError(
            "incompatible-schema",
            f"the schema registry refused the MutationData schema for {what} "
            f"(HTTP {status}): see schemas/EVOLUTION.md",
        )
    return SchemaRegistryUnavailableError(
        f"the schema registry could not answer for {what}: {type(exc).__name__}"
        + (f" (HTTP {status})" if status is not None else "")
    )
