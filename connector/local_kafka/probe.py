"""Ask a Kafka listener whether it serves requests, with the standard library only.

The launcher must run before any Kafka client is installed, so it speaks the two requests
it needs itself: ApiVersions v0 (answered by every listener, even before SASL
authentication) and Metadata v4..v8 (answered only once the broker is fully started; the
broker lists itself). Encoding and decoding are pure functions; `query_*` do the socket I/O.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from dataclasses import dataclass

__all__ = [
    "BrokerAddress",
    "ClusterMetadata",
    "ProtocolError",
    "broker_answers",
    "decode_api_versions_response",
    "decode_metadata_response",
    "encode_api_versions_request",
    "encode_metadata_request",
    "parse_bootstrap",
    "query_api_versions",
    "query_metadata",
]

_API_METADATA = 3
_API_VERSIONS = 18
# Kafka 4.0 removed Metadata v0-v3 (KIP-896); v4-v8 share the request/response prefix we use.
_METADATA_VERSIONS = range(4, 9)
_CLIENT_ID = b"iec-local-kafka-probe"
_MAX_RESPONSE = 16 * 1024 * 1024


class ProtocolError(Exception):
    """A response that is not the Kafka protocol answer we asked for."""


@dataclass(frozen=True)
class BrokerAddress:
    """A broker as Metadata lists it."""

    node_id: int
    host: str
    port: int


@dataclass(frozen=True)
class ClusterMetadata:
    """The part of a Metadata response that tells whether the cluster serves clients."""

    brokers: tuple[BrokerAddress, ...]
    cluster_id: str | None
    controller_id: int


def parse_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    """`"h1:9092,h2:9093"` → `[("h1", 9092), ("h2", 9093)]`; a bracketed IPv6 host is allowed."""
    addresses: list[tuple[str, int]] = []
    for item in bootstrap.split(","):
        entry = item.strip()
        if "://" in entry:
            entry = entry.split("://", 1)[1]
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"not a host:port bootstrap address: {item!r}")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


def _request(api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    # Request header v1: api_key, api_version, correlation_id, client_id (int16-length string).
    header = struct.pack(">hhih", api_key, version, correlation_id, len(_CLIENT_ID)) + _CLIENT_ID
    message = header + body
    return struct.pack(">i", len(message)) + message


def encode_api_versions_request(correlation_id: int) -> bytes:
    """A size-prefixed ApiVersions v0 request."""
    return _request(_API_VERSIONS, 0, correlation_id, b"")


def encode_metadata_request(correlation_id: int, version: int = 4) -> bytes:
    """A size-prefixed Metadata request for no topics (just brokers and controller)."""
    if version not in _METADATA_VERSIONS:
        raise ValueError(f"Metadata v{version} is not supported by this probe")
    # topics: empty array (null would mean "all topics"); allow_auto_topic_creation: false.
    body = struct.pack(">ib", 0, 0)
    if version >= 8:
        # include_cluster_authorized_operations, include_topic_authorized_operations
        body += struct.pack(">bb", 0, 0)
    return _request(_API_METADATA, version, correlation_id, body)


class _Reader:
    """Big-endian cursor over a response body that raises ProtocolError when it runs out."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    def _take(self, size: int) -> bytes:
        end = self._offset + size
        if size < 0 or end > len(self._data):
            raise ProtocolError("response ended early")
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def int16(self) -> int:
        value: int = struct.unpack(">h", self._take(2))[0]
        return value

    def int32(self) -> int:
        value: int = struct.unpack(">i", self._take(4))[0]
        return value

    def nullable_string(self) -> str | None:
        size = self.int16()
        if size == -1:
            return None
        try:
            return self._take(size).decode("utf-8")
        except UnicodeDecodeError as error:
            raise ProtocolError("string is not UTF-8") from error

    def string(self) -> str:
        value = self.nullable_string()
        if value is None:
            raise ProtocolError("null where a string is required")
        return value

    def array_length(self) -> int:
        size = self.int32()
        if size < 0 or size > len(self._data):
            raise ProtocolError(f"implausible array length {size}")
        return size


def _check_correlation(reader: _Reader, correlation_id: int) -> None:
    received = reader.int32()
    if received != correlation_id:
        raise ProtocolError(f"correlation id {received}, expected {correlation_id}")


def decode_api_versions_response(payload: bytes, correlation_id: int) -> dict[int, range]:
    """Supported versions per API key from an ApiVersions v0 response (without size prefix)."""
    reader = _Reader(payload)
    _check_correlation(reader, correlation_id)
    error_code = reader.int16()
    if error_code != 0:
        raise ProtocolError(f"ApiVersions failed with error code {error_code}")
    versions: dict[int, range] = {}
    for _ in range(reader.array_length()):
        api_key, low, high = reader.int16(), reader.int16(), reader.int16()
        versions[api_key] = range(low, high + 1)
    return versions


def decode_metadata_response(payload: bytes, correlation_id: int) -> ClusterMetadata:
    """Brokers, cluster id and controller from a Metadata v4..v8 response (without size prefix)."""
    reader = _Reader(payload)
    _check_correlation(reader, correlation_id)
    reader.int32()  # throttle_time_ms
    brokers = []
    for _ in range(reader.array_length()):
        node_id, host, port = reader.int32(), reader.string(), reader.int32()
        reader.nullable_string()  # rack
        brokers.append(BrokerAddress(node_id, host, port))
    cluster_id = reader.nullable_string()
    controller_id = reader.int32()
    return ClusterMetadata(tuple(brokers), cluster_id, controller_id)


def _round_trip(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    (size,) = struct.unpack(">i", _receive(sock, 4))
    if not 0 < size <= _MAX_RESPONSE:
        raise ProtocolError(f"implausible response size {size}")
    return _receive(sock, size)


def _receive(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ProtocolError("connection closed by the listener")
        chunks += chunk
    return bytes(chunks)


def query_api_versions(
    host: str, port: int, timeout: float, tls: ssl.SSLContext | None = None
) -> dict[int, range]:
    """Send ApiVersions v0 to one listener, over TLS if `tls` is given (the handshake
    verifies the listener's certificate); raises OSError (ssl.SSLError) or ProtocolError."""
    with socket.create_connection((host, port), timeout=timeout) as raw:
        raw.settimeout(timeout)
        if tls is None:
            return decode_api_versions_response(_round_trip(raw, encode_api_versions_request(1)), 1)
        with tls.wrap_socket(raw, server_hostname=host) as sock:
            response = _round_trip(sock, encode_api_versions_request(1))
            return decode_api_versions_response(response, 1)


def query_metadata(host: str, port: int, timeout: float) -> ClusterMetadata:
    """Ask one listener for cluster metadata; raises OSError or ProtocolError.

    1. ApiVersions v0 tells which Metadata versions the broker serves.
    2. Metadata with the oldest served version in v4..v8 lists brokers and controller.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        # 1. Negotiate the Metadata version.
        versions = decode_api_versions_response(
            _round_trip(sock, encode_api_versions_request(1)), 1
        )
        served = versions.get(_API_METADATA, range(0))
        usable = [v for v in _METADATA_VERSIONS if v in served]
        if not usable:
            raise ProtocolError(f"broker serves Metadata {served}, probe needs one of v4..v8")
        # 2. Ask for brokers only (no topics).
        response = _round_trip(sock, encode_metadata_request(2, usable[0]))
        return decode_metadata_response(response, 2)


def broker_answers(bootstrap: str, timeout: float = 2.0) -> bool:
    """True if a broker of `bootstrap` answers a Metadata request listing at least one broker.

    Never raises for an unreachable or non-Kafka address; `timeout` bounds the whole check.
    """
    deadline = time.monotonic() + timeout
    for host, port in parse_bootstrap(bootstrap):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            if query_metadata(host, port, remaining).brokers:
                return True
        except (OSError, ProtocolError):
            continue
    return False
