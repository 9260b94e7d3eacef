"""Encode+decode rate of the MutationData codec against a plain fastavro + orjson loop.

Run: ``.venv/bin/python -m bench.codec_bench`` (``--help`` for options). The record is a
realistic product mutation (about 30 payload fields, attribute values as a list of
{code, locale, scope, value}, a few changed fields, ~1.2 KB of payload JSON). The ceiling is
``schemaless_writer`` + ``schemaless_reader`` + ``orjson.dumps/loads`` on the same record with
the shipped schema, in the same run; the target is a codec rate of at least 0.8x the ceiling,
building the validated `MutationData` included. Each figure is the best of several rounds.
"""

from __future__ import annotations

import argparse
import copy
import timeit
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO
from typing import Any, cast

import fastavro
import orjson
from confluent_kafka.schema_registry import SchemaRegistryClient

from connector.codec import Framing, MutationCodec
from contracts import MutationData
from schemas import load_schema

TARGET = 0.8


def product_payload() -> dict[str, Any]:
    """A product as the core system publishes it: ~30 fields, ~1.2 KB of JSON."""
    values = [
        {"code": "name", "locale": "en_US", "scope": None, "value": "Trail running shoe"},
        {"code": "name", "locale": "de_DE", "scope": None, "value": "Trailrunning-Schuh"},
        {"code": "description", "locale": "en_US", "scope": "ecommerce",
         "value": "Light shoe, grippy sole."},
        {"code": "description", "locale": "de_DE", "scope": "ecommerce",
         "value": "Leichter Schuh, griffige Sohle."},
        {"code": "color", "locale": None, "scope": None, "value": "blue"},
        {"code": "size", "locale": None, "scope": None, "value": "44"},
        {"code": "weight", "locale": None, "scope": None, "value": {"amount": 310, "unit": "GRAM"}},
        {"code": "price", "locale": None, "scope": "ecommerce",
         "value": [{"amount": "129.90", "currency": "EUR"}, {"amount": "139", "currency": "USD"}]},
    ]  # fmt: skip
    payload: dict[str, Any] = {
        "uuid": "6f1e3c1a-2b7d-4a8e-9c55-0d2f7e9b1a44",
        "identifier": "SHOE-TRAIL-44-BLUE",
        "family": "shoes",
        "parent": "SHOE-TRAIL",
        "enabled": True,
        "categories": ["running", "trail", "men"],
        "groups": ["sale"],
        "values": values,
        "created": "2024-03-01T09:30:00+00:00",
        "updated": "2024-06-12T14:05:11+00:00",
        "stock": 42,
        "ean": "4006381333931",
        "brand": "Alpina",
        "visibility": "catalog_search",
        "status": 1,
        "is_new": False,
        "rating": 4.6,
    }
    for i in range(13):
        payload[f"attr_{i:02d}"] = i * 7 if i % 2 else f"opt-{i}"
    return payload


def localized(value: Any) -> Any:
    """The same JSON with every string of letters made non-ASCII (Cyrillic), same length."""
    if isinstance(value, dict):
        return {key: localized(item) for key, item in value.items()}
    if isinstance(value, list):
        return [localized(item) for item in value]
    if isinstance(value, str) and value.isalpha():
        return "Ж" * len(value)
    if isinstance(value, str):
        return "".join("ж" if char.isalpha() else char for char in value)
    return value


def product_mutation(payload: dict[str, Any] | None = None) -> MutationData:
    return MutationData(
        entity_type="product",
        entity_uuid="6f1e3c1a-2b7d-4a8e-9c55-0d2f7e9b1a44",
        operation="updated",
        payload=product_payload() if payload is None else payload,
        changed_fields=("values.price", "values.name.de_DE", "stock"),
        event_id=str(uuid.uuid4()),
        occurred_at=datetime(2024, 6, 12, 14, 5, 11, 123456, tzinfo=UTC),
        version=17,
    )


def _schema_with_payload_type(payload_type: str) -> dict[str, Any]:
    source = copy.deepcopy(load_schema("mutation_data"))
    for field in source["fields"]:
        if field["name"] == "payload":
            field["type"] = payload_type
    return cast(dict[str, Any], fastavro.parse_schema(source))


def ceiling_round_trip(mutation: MutationData, payload_type: str) -> Callable[[], object]:
    """Plain fastavro + orjson on the same record: no framing, no model, no checks."""
    schema = _schema_with_payload_type(payload_type)
    as_text = payload_type == "string"
    record: dict[str, Any] = {
        "entity_type": mutation.entity_type,
        "entity_uuid": mutation.entity_uuid,
        "operation": mutation.operation.value,
        "payload": dict(mutation.payload),
        "changed_fields": list(mutation.changed_fields),
        "event_id": mutation.event_id,
        "occurred_at": mutation.occurred_at,
        "version": mutation.version,
    }
    payload = record["payload"]
    writer, reader, dumps, loads = (
        fastavro.schemaless_writer,
        fastavro.schemaless_reader,
        orjson.dumps,
        orjson.loads,
    )

    def round_trip() -> object:
        out = dict(record)
        out["payload"] = dumps(payload).decode() if as_text else dumps(payload)
        buffer = BytesIO()
        writer(buffer, schema, out)
        back = cast(dict[str, Any], reader(BytesIO(buffer.getvalue()), schema, None))
        back["payload"] = loads(back["payload"])
        return back

    return round_trip


def codec_round_trip(codec: MutationCodec, mutation: MutationData) -> Callable[[], object]:
    encode, decode = codec.encode, codec.decode

    def round_trip() -> object:
        return decode(encode(mutation))

    return round_trip


def rate(fn: Callable[[], object], number: int, rounds: int) -> float:
    """Best-of-`rounds` calls per second."""
    fn()
    best = min(timeit.repeat(fn, number=number, repeat=rounds))
    return number / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--number", type=int, default=20_000, help="records per round")
    parser.add_argument("-r", "--rounds", type=int, default=5, help="rounds (best is kept)")
    parser.add_argument(
        "--compare-payload-types",
        action="store_true",
        help="also measure the ceiling with payload typed Avro bytes instead of string, "
        "for this payload and for one whose text is non-ASCII",
    )
    args = parser.parse_args(argv)

    mutation = product_mutation()
    single = MutationCodec()
    registry = SchemaRegistryClient.new_client({"url": "mock://codec-bench"})
    confluent = MutationCodec(framing=Framing.CONFLUENT, schema_registry_client=registry)
    for codec in (single, confluent):
        assert codec.decode(codec.encode(mutation)) == mutation

    payload_bytes = len(orjson.dumps(mutation.payload))
    value_bytes = len(single.encode(mutation))
    print(
        f"record: {len(mutation.payload)} payload fields, payload JSON {payload_bytes} B, "
        f"framed value {value_bytes} B; {args.number} records x best of {args.rounds} rounds"
    )

    ceiling = rate(ceiling_round_trip(mutation, "string"), args.number, args.rounds)
    rows = [("ceiling: fastavro + orjson (payload string)", ceiling)]
    if args.compare_payload_types:
        as_bytes = rate(ceiling_round_trip(mutation, "bytes"), args.number, args.rounds)
        rows.append(("ceiling: fastavro + orjson (payload bytes)", as_bytes))
        cyrillic = product_mutation(localized(product_payload()))
        for payload_type in ("string", "bytes"):
            rows.append(
                (
                    f"  same, non-ASCII payload text ({payload_type})",
                    rate(ceiling_round_trip(cyrillic, payload_type), args.number, args.rounds),
                )
            )
    results = {
        "single-object": rate(codec_round_trip(single, mutation), args.number, args.rounds),
        "schema-registry": rate(codec_round_trip(confluent, mutation), args.number, args.rounds),
    }
    rows += [(f"MutationCodec encode+decode, {name}", value) for name, value in results.items()]
    encoded = single.encode(mutation)
    encode_only = rate(lambda: single.encode(mutation), args.number, args.rounds)
    decode_only = rate(lambda: single.decode(encoded), args.number, args.rounds)
    rows += [
        ("  encode only, single-object", encode_only),
        ("  decode only, single-object", decode_only),
    ]

    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value:>10,.0f} records/s  {1e6 / value:6.1f} µs  "
              f"{value / ceiling:5.2f}x ceiling")  # fmt: skip
    worst = min(results.values()) / ceiling
    verdict = "meets" if worst >= TARGET else "MISSES"
    print(f"codec/ceiling ratio: {worst:.2f} (worst framing) — {verdict} the {TARGET}x target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
