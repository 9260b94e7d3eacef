"""One HTTP server for `/metrics`, `/healthz` and `/readyz`.

`/healthz` answers 200 while every integration loop is alive and has turned within
`stuck_after_s` (a loop stuck in a blocking call stops turning); `/readyz` answers 200 while
every integration has restored its mappings, has received an assignment and has not lost its
partitions since: when the group takes them away (a session timeout, e.g. during a broker
outage) it answers 503 until partitions are assigned again, while `/healthz` stays 200. An
integration that failed is neither live nor ready.

Exposure: no authentication and no TLS, as usual for Prometheus targets. The bodies carry
metric values, integration names and uuids, topic names and probe states, never
configuration values or secrets. Bind it to one interface with `metrics.host` (e.g.
``127.0.0.1`` behind a sidecar, or the pod IP) and restrict who can reach the port with a
network policy. The `Server` header names no versions.
"""

from __future__ import annotations

import errno
import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from contracts import ConfigurationError

__all__ = ["HealthServer", "Probe"]

Probe = Callable[[], tuple[bool, dict[str, Any]]]
"""Returns (ok, details) — details are shown as JSON in the response body."""


class _ServerV6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class HealthServer:
    """Serves the three endpoints on `host:port` (`host` an IPv4 or IPv6 address, or a name;
    ``0.0.0.0`` every IPv4 interface, ``::`` every interface; port 0 picks a free one).

    A failure to bind names the setting and the address: `ConfigurationError` for a host
    that does not resolve or is not this machine's, a port it may not use; `OSError` for a
    port another process holds (the environment, not the configuration, may be at fault).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        registry: CollectorRegistry,
        liveness: Probe,
        readiness: Probe,
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "iec-connector"

            def version_string(self) -> str:
                return self.server_version  # not "BaseHTTP/0.6 Python/3.11.7"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(outer.registry), CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/readyz"):
                    probe = outer.liveness if path == "/healthz" else outer.readiness
                    ok, details = probe()
                    body = json.dumps({"ok": ok, **details}, default=str).encode()
                    self._send(200 if ok else 503, body, "application/json")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # probes every few seconds would drown the logs

        self.registry = registry
        self.liveness = liveness
        self.readiness = readiness
        server_class = _ServerV6 if ":" in host else ThreadingHTTPServer
        try:
            self._server = server_class((host, port), Handler)
        except OSError as exc:
            raise _bind_failure(host, port, exc) from None
        self._server.daemon_threads = True
        # A short poll interval: `close()` waits for the serving loop to notice the shutdown.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _bind_failure(host: str, port: int, exc: OSError) -> Exception:
    """The error to raise when the server cannot listen on `host:port`, naming the setting."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    reason = exc.strerror or str(exc)
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return ConfigurationError(
            f"metrics.host {host!r} cannot be served ({reason}): give an address of this "
            "machine or a name resolving to one (0.0.0.0 every IPv4 interface, :: every "
            "interface, 127.0.0.1 this host only), or set metrics.enabled: false"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ConfigurationError(
            f"metrics.port {port} may not be used here ({reason}, on {where}): choose a port "
            "above 1023, or set metrics.enabled: false"
        )
    if exc.errno == errno.EADDRINUSE:
        return OSError(
            exc.errno,
            f"metrics.port {port} is taken on {where} ({reason}): stop what holds it or "
            "set another metrics.port",
        )
    return OSError(exc.errno, f"cannot serve metrics on {where} ({reason}): check metrics.host")
