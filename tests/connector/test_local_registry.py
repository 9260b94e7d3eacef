"""The local schema registry (Apicurio) and the broker: real processes, loopback only."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from connector import local_kafka
from schemas import schema_text


def _listening_addresses(pid: int) -> set[str]:
    """The local addresses of every TCP socket `pid` listens on (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    addresses = set()
    for table, size in (("tcp", 4), ("tcp6", 16)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(local.split(":")[0])
            # /proc prints each 32-bit word in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, size, 4))
            address = ipaddress.ip_address(words)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            addresses.add(str(address))
    return addresses


def test_the_local_registry_listens_on_loopback_only(schema_registry_url: str) -> None:
    registry = local_kafka.running_registry()
    if registry is None:
        pytest.fail(
            "no local registry runs: `python -m connector.local_kafka up --registry` starts it"
        )

    addresses = _listening_addresses(registry.pid)

    assert addresses == {"127.0.0.1"}, addresses  # API, health and metrics: one loopback port
    assert local_kafka.registry_answers(registry.url, timeout=10)


def test_the_local_broker_listens_on_loopback_only(kafka_bootstrap: str) -> None:
    broker = local_kafka.running_broker()
    if broker is None:
        pytest.fail("no local broker runs: `python -m connector.local_kafka up` starts it")

    assert _listening_addresses(broker.pid) == {"127.0.0.1"}


def test_the_registry_serves_the_confluent_api_with_compatibility_rules(
    schema_registry_url: str, unique_topic: Callable[[str], str]
) -> None:
    client = SchemaRegistryClient({"url": schema_registry_url, "timeout": 10})
    subject = f"{unique_topic('registry')}-value"
    schema = Schema(schema_text("mutation_data"), "AVRO")

    client.set_compatibility(subject, "FULL_TRANSITIVE")
    schema_id = client.register_schema(subject, schema)

    assert client.register_schema(subject, schema) == schema_id  # idempotent
    assert client.get_compatibility(subject) == "FULL_TRANSITIVE"
    assert client.get_schema(schema_id).schema_str is not None
    assert local_kafka.APICURIO_VERSION == "2.6.13.Final"
