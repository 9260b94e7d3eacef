"""A schema registry's REST API on 127.0.0.1 with canned answers (for registry-client tests)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient


class RegistryStub:
    """A schema registry's REST API on 127.0.0.1 serving canned responses (status, JSON).

    Follows the registry's published API: ``GET /schemas/ids/{id}`` answers
    ``{"schema": "..."}``, ``POST /subjects/{subject}/versions`` answers ``{"id": n}``, errors
    carry ``{"error_code": n, "message": "..."}``. `calls` counts requests per (method, path).
    """

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], tuple[int, Any]] = {}
        self.calls: Counter[tuple[str, str]] = Counter()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                key = (self.command, path)
                stub.calls[key] += 1
                status, body = stub.routes.get(
                    key, (404, {"error_code": 40401, "message": "not found"})
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def client(self) -> SchemaRegistryClient:
        return SchemaRegistryClient({"url": self.url, "max.retries": 0})

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
