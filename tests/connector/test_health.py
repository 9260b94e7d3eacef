"""The metrics and health server: one interface when asked, no version banner."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client import CollectorRegistry

from connector.health import HealthServer
from contracts import ConfigurationError


@contextmanager
def serving(host: str) -> Iterator[HealthServer]:
    server = HealthServer(
        host,
        0,
        registry=CollectorRegistry(),
        liveness=lambda: (True, {"integrations": {"shop": "ok"}}),
        readiness=lambda: (False, {}),
    )
    server.start()
    try:
        yield server
    finally:
        server.close()


def _get(host: str, port: int, path: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_responses_name_no_server_or_python_version() -> None:
    with serving("127.0.0.1") as server:
        for path, status in (("/healthz", 200), ("/readyz", 503), ("/metrics", 200), ("/x", 404)):
            response = _get("127.0.0.1", server.port, path)
            assert response.status == status
            assert response.getheader("Server") == "iec-connector"
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("DELETE", "/metrics")  # error pages carry the header too
        refused = connection.getresponse()
        body = refused.read().decode()
        connection.close()
    assert refused.status == 501
    assert refused.getheader("Server") == "iec-connector"
    assert "Python" not in body
    assert "BaseHTTP" not in body


def _other_local_address() -> str | None:
    """An IPv4 address of this machine other than loopback, if it has one."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
        address = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def test_bound_to_loopback_it_is_not_reachable_on_other_interfaces() -> None:
    with serving("127.0.0.1") as server:
        assert server._server.server_address[0] == "127.0.0.1"
        assert _get("127.0.0.1", server.port, "/healthz").status == 200
        other = _other_local_address()
        if other is not None:  # a machine with only loopback proves nothing more here
            with pytest.raises(ConnectionRefusedError):
                _get(other, server.port, "/healthz")


def _ipv6_loopback() -> bool:
    probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        probe.bind(("::1", 0))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def test_an_ipv6_host_is_served_on_ipv6() -> None:
    if not _ipv6_loopback():  # no ::1 here: the server refuses it as any socket would
        with pytest.raises(OSError, match=r"(?i)address"), serving("::1"):
            pass
        return
    with serving("::1") as server:
        assert _get("::1", server.port, "/healthz").status == 200


def test_a_taken_port_names_the_setting_and_address() -> None:
    with serving("127.0.0.1") as running, pytest.raises(OSError, match="is taken") as caught:
        HealthServer(
            "127.0.0.1",
            running.port,
            registry=CollectorRegistry(),
            liveness=lambda: (True, {}),
            readiness=lambda: (True, {}),
        )
    assert not isinstance(caught.value, ConfigurationError)  # exit 1: the environment
    assert f"metrics.port {running.port} is taken on 127.0.0.1:{running.port}" in str(
        caught.value.strerror
    )


@pytest.mark.parametrize("host", ["no-such-host.invalid", "192.0.2.1"])
def test_a_host_that_is_not_this_machine_is_a_configuration_error_naming_it(host: str) -> None:
    with pytest.raises(ConfigurationError, match=f"metrics.host '{host}' cannot be served"):
        HealthServer(
            host,
            0,
            registry=CollectorRegistry(),
            liveness=lambda: (True, {}),
            readiness=lambda: (True, {}),
        )
