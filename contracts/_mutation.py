"""The data transfer objects of the contract: `MutationData`, `MappingData`, `EntityTypes`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator

from contracts._payload import FrozenDict, JsonPayload, thaw

__all__ = ["EntityTypes", "MappingData", "MutationData", "Operation", "Payload"]


class Operation(StrEnum):
    """What happened to the entity. A `str` enum, so `op == "created"` holds."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


class EntityTypes(StrEnum):
    """The four standard entity types. `entity_type` itself is an open string."""

    PRODUCT = "product"
    CATEGORY = "category"
    ATTRIBUTE = "attribute"
    FAMILY = "family"

    @classmethod
    def standard(cls) -> tuple[str, ...]:
        return tuple(member.value for member in cls)


def _to_payload(value: Any) -> FrozenDict | JsonPayload:
    if type(value) is FrozenDict or type(value) is JsonPayload:
        # Ownership transfer: a FrozenDict is taken as it is, without a copy; a JsonPayload
        # (the codec's) is kept as text until `MutationData.payload` is first read.
        return value  # a JsonPayload is read back as a FrozenDict, see _Payload
    if isinstance(value, Mapping):
        # A deep copy (about 14 µs for a 1.5 KB payload): a caller that keeps changing its
        # dict, nested parts included, must not change the DTO. Nested containers are
        # frozen lazily on first access.
        return FrozenDict(thaw(value))
    raise ValueError("payload must be a JSON object (a mapping of string keys)")


Payload = Annotated[
    FrozenDict,
    PlainValidator(_to_payload, json_schema_input_type=dict[str, Any]),
    PlainSerializer(thaw, return_type=dict[str, Any]),
]


# pydantic's own tuple validation (in Rust): a list or tuple of strings; a bare string, a
# non-string item or None is refused. A Python validator here cost ~1 µs per decoded record.
ChangedFields = tuple[str, ...]


class MutationData(BaseModel):
    """One change of one entity in the core IEC system, as published to Kafka.

    Immutable: the model is frozen and `payload` is a read-only view (see `thaw` for a copy).
    The seed's five fields keep their names; the metadata fields are optional so producers
    and consumers that don't know them keep working.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    entity_type: Annotated[str, Field(min_length=1, max_length=255)]
    entity_uuid: Annotated[str, Field(min_length=1, max_length=255)]
    operation: Operation
    payload: Payload = Field(default_factory=lambda: FrozenDict())
    changed_fields: ChangedFields = ()

    event_id: str | None = None
    """Unique id of this event, for de-duplication downstream."""
    occurred_at: datetime | None = None
    """When the change happened in the core system (not when it was published)."""
    version: int | None = None
    """Per-entity version or sequence number, increasing with every change (if the producer
    has one)."""

    @property
    def is_deletion(self) -> bool:
        return self.operation is Operation.DELETED

    def __hash__(self) -> int:
        # pydantic's frozen hash would hash the payload, which (like a dict) is unhashable.
        # Equal mutations have equal identities, so hashing the identity is consistent.
        return hash(
            (self.entity_type, self.entity_uuid, self.operation, self.event_id, self.version)
        )

    # pydantic reads field values from __dict__ in these: a payload still held as JSON text
    # is parsed first, so they see what `payload` returns.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, MutationData):
            _ = self.payload, other.payload
        return super().__eq__(other)

    def __iter__(self) -> Any:
        _ = self.payload
        return super().__iter__()

    def __repr_args__(self) -> Any:
        _ = self.payload
        return super().__repr_args__()


class _Payload:
    """`MutationData.payload`: the field's value, a `JsonPayload` parsed on first read.

    A data descriptor, so it is consulted before the instance's `__dict__` (where pydantic
    keeps field values); serialising, copying and pickling read `__dict__` and keep (or,
    through `thaw`, parse) the text.
    """

    def __get__(self, instance: MutationData | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        values = instance.__dict__
        value = values["payload"]
        if type(value) is JsonPayload:
            value = values["payload"] = value.parse()
        return value

    def __set__(self, instance: MutationData, value: Any) -> None:
        instance.__dict__["payload"] = value  # pydantic refuses assignment first (frozen)


# After the class is built, so that pydantic still sees `payload` as a field.
setattr(MutationData, "payload", _Payload())  # noqa: B010


class MappingData(BaseModel):
    """The external identity of a local entity, as kept by the `EntityMappingService`."""

    model_config = ConfigDict(frozen=True)

    external_id: str
    external_data: Payload | None = None

    def __hash__(self) -> int:
        return hash(self.external_id)
