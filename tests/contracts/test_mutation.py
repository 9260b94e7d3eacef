"""MutationData and MappingData: immutability, enum, defaults, equality, serialisation."""

from __future__ import annotations

import copy
import json
import pickle
import warnings
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from contracts import (
    EntityTypes,
    FrozenDict,
    FrozenList,
    MappingData,
    MutationData,
    Operation,
    thaw,
)


def payload() -> dict[str, Any]:
    return {
        "sku": "SKU-1",
        "values": {"color": [{"locale": None, "data": "blue"}]},
        "categories": ["men", "shirts"],
    }


def mutation(**overrides: Any) -> MutationData:
    fields: dict[str, Any] = {
        "entity_type": "product",
        "entity_uuid": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        "operation": "updated",
        "payload": payload(),
        "changed_fields": ["values.color"],
    }
    return MutationData(**(fields | overrides))


# -- immutability --------------------------------------------------------------------------


def test_fields_cannot_be_reassigned() -> None:
    m = mutation()
    with pytest.raises(ValidationError, match="frozen"):
        m.entity_uuid = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.__setitem__("sku", "x"),
        lambda p: p.__delitem__("sku"),
        lambda p: p.update(sku="x"),
        lambda p: p.pop("sku"),
        lambda p: p.setdefault("new", 1),
        lambda p: p.clear(),
        lambda p: p.popitem(),
        lambda p: p.__ior__({"x": 1}),
        lambda p: p["values"].__setitem__("size", []),
        lambda p: p["values"]["color"].append({}),
        lambda p: p["values"]["color"][0].__setitem__("data", "red"),
        lambda p: p["categories"].sort(),
        lambda p: p["categories"].__setitem__(0, "women"),
        lambda p: p["categories"].extend(["x"]),
        lambda p: p["categories"].__iadd__(["x"]),
    ],
)
def test_payload_cannot_be_changed_through_the_mutation_at_any_depth(change: Any) -> None:
    m = mutation()
    with pytest.raises(TypeError, match="read-only"):
        change(m.payload)
    assert m.payload == payload()


@pytest.mark.parametrize(
    "escape",
    [
        lambda p: p["categories"] + [],
        lambda p: [] + p["values"]["color"],
        lambda p: p["values"]["color"] * 1,
        lambda p: list(reversed(p["values"]["color"])),
        lambda p: list(p["values"]["color"]),
        lambda p: p["values"]["color"][:],
    ],
)
def test_copies_of_nested_lists_still_hold_read_only_containers(escape: Any) -> None:
    m = mutation()
    copied = escape(m.payload)
    if copied and isinstance(copied[0], dict):
        with pytest.raises(TypeError):
            copied[0]["data"] = "red"
    assert m.payload == payload()


def test_dict_copies_of_the_payload_keep_nested_containers_read_only() -> None:
    m = mutation()
    for copied in (dict(m.payload), {**m.payload}, m.payload | {}, m.payload.copy()):
        with pytest.raises(TypeError):
            copied["values"]["color"] = []
    assert m.payload == payload()


def test_changing_the_callers_dict_afterwards_does_not_change_the_mutation() -> None:
    source = payload()
    m = mutation(payload=source)
    source["sku"] = "changed"
    source["values"]["color"][0]["data"] = "red"
    source["categories"].append("sale")
    assert m.payload == payload()


def test_thaw_returns_a_deep_mutable_copy() -> None:
    m = mutation()
    thawed = thaw(m.payload)
    thawed["values"]["color"][0]["data"] = "red"
    thawed["categories"].append("sale")
    assert type(thawed) is dict
    assert type(thawed["values"]["color"]) is list
    assert m.payload == payload()


def test_model_copy_with_update_leaves_the_original_alone() -> None:
    m = mutation()
    other = m.model_copy(update={"entity_uuid": "another"})
    assert (m.entity_uuid, other.entity_uuid) == ("3f2504e0-4f89-41d3-9a0c-0305e82c3301", "another")
    assert copy.deepcopy(m) == m


def test_payload_views_are_dict_and_list_subclasses() -> None:
    m = mutation()
    assert isinstance(m.payload, FrozenDict)
    assert isinstance(m.payload, dict)
    assert isinstance(m.payload["categories"], FrozenList)
    assert isinstance(m.payload["categories"], list)
    assert m.payload.get("missing", 5) == 5


# -- fields --------------------------------------------------------------------------------


def test_operation_is_a_string_enum() -> None:
    m = mutation(operation="deleted")
    assert m.operation == "deleted"
    assert m.operation is Operation.DELETED
    assert m.is_deletion
    assert not mutation().is_deletion


def test_unknown_operation_is_rejected() -> None:
    with pytest.raises(ValidationError):
        mutation(operation="archived")


def test_entity_type_is_open_and_entity_types_names_the_standard_four() -> None:
    assert mutation(entity_type="price_list").entity_type == "price_list"
    assert EntityTypes.standard() == ("product", "category", "attribute", "family")
    assert mutation(entity_type=EntityTypes.CATEGORY).entity_type == "category"


@pytest.mark.parametrize(
    "bad", [{"entity_type": ""}, {"entity_uuid": ""}, {"payload": [1, 2]}, {"unknown": 1}]
)
def test_invalid_fields_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        mutation(**bad)


def test_changed_fields_is_a_tuple_of_dotted_paths() -> None:
    m = mutation(changed_fields=["values.color", "sku"])
    assert m.changed_fields == ("values.color", "sku")
    for bad in ("sku", ["sku", 5]):
        with pytest.raises(ValidationError):
            mutation(changed_fields=bad)


def test_optional_metadata_defaults_to_none_and_payload_to_empty() -> None:
    m = MutationData(entity_type="family", entity_uuid="u-1", operation="created")
    assert (m.event_id, m.occurred_at, m.version) == (None, None, None)
    assert m.payload == {}
    assert m.changed_fields == ()


def test_optional_metadata_is_kept_when_given() -> None:
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    m = mutation(event_id="evt-1", occurred_at=at, version=7)
    assert (m.event_id, m.occurred_at, m.version) == ("evt-1", at, 7)


# -- equality, hashing, pickling -----------------------------------------------------------


def test_equal_fields_make_equal_and_equally_hashed_mutations() -> None:
    assert mutation() == mutation()
    assert hash(mutation()) == hash(mutation())
    assert len({mutation(), mutation()}) == 1
    assert mutation() != mutation(payload={"sku": "other"})


def test_mutations_pickle_and_stay_read_only() -> None:
    m = mutation(event_id="evt-1", version=3)
    restored = pickle.loads(pickle.dumps(m))
    assert restored == m
    with pytest.raises(TypeError):
        restored.payload["values"]["color"].append({})


# -- serialisation -------------------------------------------------------------------------


def test_json_round_trip_through_pydantic_without_serializer_warnings() -> None:
    m = mutation(occurred_at=datetime(2024, 5, 1, tzinfo=UTC), version=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = m.model_dump_json()
    assert MutationData.model_validate_json(text) == m


def test_model_dump_gives_plain_containers() -> None:
    dumped = mutation().model_dump(mode="json")
    assert type(dumped["payload"]) is dict
    assert type(dumped["payload"]["values"]["color"]) is list
    assert dumped["changed_fields"] == ["values.color"]
    assert dumped["operation"] == "updated"


def test_payload_serialises_with_json_and_orjson() -> None:
    m = mutation()
    assert json.loads(json.dumps(m.payload)) == payload()
    assert orjson.loads(orjson.dumps(m.payload)) == payload()
    assert orjson.loads(orjson.dumps(m.model_dump(mode="json"))) == m.model_dump(mode="json")


def test_json_schema_describes_payload_and_changed_fields() -> None:
    props = MutationData.model_json_schema()["properties"]
    assert props["payload"]["type"] == "object"
    assert props["changed_fields"]["items"] == {"type": "string"}


# -- MappingData ---------------------------------------------------------------------------


def test_mapping_data_is_frozen_with_read_only_external_data() -> None:
    source = {"ids": {"magento": 12}}
    mapping = MappingData(external_id="12", external_data=source)
    source["ids"]["magento"] = 99
    assert mapping.external_data == {"ids": {"magento": 12}}
    with pytest.raises(TypeError):
        mapping.external_data["ids"]["magento"] = 1
    assert MappingData(external_id="12").external_data is None
    assert hash(mapping) == hash(
        MappingData(external_id="12", external_data={"ids": {"magento": 12}})
    )
