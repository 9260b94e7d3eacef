"""The evolution policy of schemas/EVOLUTION.md, proven both ways with fastavro and the codec."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from io import BytesIO
from typing import Any, cast

import fastavro
import orjson
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from connector.codec import Framing, MutationCodec, default_catalogue
from connector.codec.framing import confluent_header, single_object_header
from contracts import MutationData, Operation
from schemas import SCHEMA_NAMES, load_schema

# The seed's five fields; everything else must be optional with a default.
SEED_FIELDS = {"entity_type", "entity_uuid", "operation", "payload", "changed_fields"}
NEW_FIELD = {"name": "source_system", "type": ["null", "string"], "default": None}


def newer_schema() -> dict[str, Any]:
    """The next version as the policy allows it: one more optional field with a default."""
    schema = copy.deepcopy(load_schema("mutation_data"))
    schema["fields"].append(dict(NEW_FIELD))
    return schema


def parsed(schema: dict[str, Any]) -> dict[str, Any]:
    return cast(dict[str, Any], fastavro.parse_schema(copy.deepcopy(schema)))


def write(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    out = BytesIO()
    fastavro.schemaless_writer(out, parsed(schema), record)
    return out.getvalue()


def read(data: bytes, writer: dict[str, Any], reader: dict[str, Any]) -> dict[str, Any]:
    return cast(
        dict[str, Any], fastavro.schemaless_reader(BytesIO(data), parsed(writer), parsed(reader))
    )


def current_record() -> dict[str, Any]:
    return {
        "entity_type": "product",
        "entity_uuid": "9b2c",
        "operation": "updated",
        "payload": orjson.dumps(
            {"sku": "A-1", "values": [{"code": "name", "value": "Ä"}]}
        ).decode(),
        "changed_fields": ["values.name"],
        "event_id": "evt-9",
        "occurred_at": datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
        "version": 3,
    }


def test_newer_writer_is_read_by_the_current_reader() -> None:
    data = write(newer_schema(), {**current_record(), "source_system": "pim-eu"})

    record = read(data, writer=newer_schema(), reader=load_schema("mutation_data"))

    assert record == current_record()


def test_current_writer_is_read_by_the_newer_reader_with_the_default() -> None:
    data = write(load_schema("mutation_data"), current_record())

    record = read(data, writer=load_schema("mutation_data"), reader=newer_schema())

    assert record == {**current_record(), "source_system": None}


def test_oldest_writer_with_only_the_seed_fields_is_read_by_the_current_reader() -> None:
    seed_only = copy.deepcopy(load_schema("mutation_data"))
    seed_only["fields"] = [f for f in seed_only["fields"] if f["name"] in SEED_FIELDS]
    record = {k: v for k, v in current_record().items() if k in SEED_FIELDS}

    decoded = read(write(seed_only, record), writer=seed_only, reader=load_schema("mutation_data"))

    assert decoded == {**record, "event_id": None, "occurred_at": None, "version": None}


def test_single_object_record_of_a_registered_newer_schema_decodes_to_mutation_data() -> None:
    catalogue = default_catalogue()
    newer = catalogue.register(newer_schema())
    codec = MutationCodec(catalogue=catalogue)
    data = single_object_header(newer.fingerprint) + write(
        newer_schema(), {**current_record(), "source_system": "pim-eu"}
    )

    mutation = codec.decode(data)

    assert mutation == MutationData(
        entity_type="product",
        entity_uuid="9b2c",
        operation=Operation.UPDATED,
        payload={"sku": "A-1", "values": [{"code": "name", "value": "Ä"}]},
        changed_fields=("values.name",),
        event_id="evt-9",
        occurred_at=datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
        version=3,
    )


def test_newer_reader_finds_the_current_writer_in_its_catalogue_by_fingerprint() -> None:
    data = MutationCodec().encode(MutationData.model_validate({**current_record(), "payload": {}}))
    catalogue = default_catalogue()
    catalogue.register(newer_schema())

    writer = catalogue.get(data[2:10])
    record = cast(
        dict[str, Any],
        fastavro.schemaless_reader(BytesIO(data[10:]), writer.parsed, parsed(newer_schema())),
    )

    assert writer.name == "iec.mutations.v1.MutationData"
    assert record["source_system"] is None
    assert record["entity_uuid"] == "9b2c"


def test_registry_record_of_a_newer_schema_version_decodes_to_mutation_data() -> None:
    registry = SchemaRegistryClient.new_client({"url": "mock://evolution"})
    codec = MutationCodec(framing=Framing.CONFLUENT, schema_registry_client=registry)
    codec.encode(MutationData(entity_type="product", entity_uuid="x", operation="created"))
    schema_id = registry.register_schema(
        "iec.mutations.product-value", Schema(orjson.dumps(newer_schema()).decode(), "AVRO")
    )
    data = confluent_header(schema_id) + write(
        newer_schema(), {**current_record(), "source_system": "pim-eu"}
    )

    assert codec.decode(data).entity_uuid == "9b2c"
    assert sorted(registry.get_versions("iec.mutations.product-value")) == [1, 2]


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_field_added_after_the_seed_is_optional_with_a_default(name: str) -> None:
    required = (
        SEED_FIELDS if name == "mutation_data" else {"external_id", "created_at", "updated_at"}
    )

    for field in load_schema(name)["fields"]:
        if field["name"] not in required:
            assert "default" in field, f"{name}.{field['name']} has no default"


def test_operation_symbols_are_exactly_the_contracts_operations() -> None:
    (operation,) = [f for f in load_schema("mutation_data")["fields"] if f["name"] == "operation"]

    assert operation["type"]["symbols"] == [op.value for op in Operation]
