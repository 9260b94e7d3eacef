"""Fixtures for the codec tests: codecs in both framings over an in-memory schema registry."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from registry_stub import RegistryStub

from connector.codec import Framing, MutationCodec


@pytest.fixture
def registry() -> SchemaRegistryClient:
    """confluent-kafka's in-memory schema registry; a fresh one per test."""
    return SchemaRegistryClient.new_client({"url": "mock://codec-tests"})


@pytest.fixture
def single_object_codec() -> MutationCodec:
    return MutationCodec()


@pytest.fixture
def confluent_codec(registry: SchemaRegistryClient) -> MutationCodec:
    return MutationCodec(framing=Framing.CONFLUENT, schema_registry_client=registry)


@pytest.fixture
def registry_stub() -> Iterator[RegistryStub]:
    stub = RegistryStub()
    yield stub
    stub.close()


@pytest.fixture
def unreachable_registry() -> SchemaRegistryClient:
    """A registry client whose URL has no listener: every request fails to connect."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return SchemaRegistryClient({"url": f"http://127.0.0.1:{port}", "max.retries": 0})
