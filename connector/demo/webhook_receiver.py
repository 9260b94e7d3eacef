"""The demo's webhook receiver: a local HTTP server that checks Standard Webhooks signatures.

It does what a receiver following the specification does: recompute
``v1,base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>"))`` and compare it
with each signature in ``webhook-signature`` (401 when none matches or the timestamp is more
than five minutes off), drop a message id it has seen (answering 200 again), apply the
message to its copy of the catalogue and answer ``{"id": "wh-<n>"}``, stable per entity.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["DemoReceiver", "ReceiverFigures"]

_TOLERANCE_S = 300


@dataclass
class ReceiverFigures:
    requests: int = 0
    verified: int = 0
    duplicates: int = 0
    rejected: int = 0
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    """entity uuid → the last message's data (entity_type, payload, version, ...)."""


class DemoReceiver:
    """Listens on 127.0.0.1 (a free port) from `start()` to `stop()`."""

    def __init__(self, secret: str) -> None:
        self._key = base64.b64decode(secret.removeprefix("whsec_"))
        self.figures = ReceiverFigures()
        self._seen: set[str] = set()
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._serve, name="demo-receiver", daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/iec"

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.1)

    def start(self) -> DemoReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        msg_id = headers.get("webhook-id", "")
        stamp = headers.get("webhook-timestamp", "")
        if not msg_id or not stamp.isdigit() or abs(time.time() - int(stamp)) > _TOLERANCE_S:
            return False
        signed = f"{msg_id}.{stamp}.".encode() + body
        expected = base64.b64encode(hmac.new(self._key, signed, hashlib.sha256).digest())
        return any(
            version == "v1" and hmac.compare_digest(signature.encode(), expected)
            for version, _, signature in (
                part.partition(",") for part in headers.get("webhook-signature", "").split()
            )
        )

    def receive(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        verified = self.verify(headers, body)
        with self._lock:
            figures = self.figures
            figures.requests += 1
            if not verified:
                figures.rejected += 1
                return 401, b'{"message": "invalid signature"}'
            figures.verified += 1
            message = json.loads(body)
            data = message["data"]
            answer = {"id": self._ids.setdefault(data["entity_uuid"], f"wh-{len(self._ids) + 1}")}
            if headers["webhook-id"] in self._seen:
                figures.duplicates += 1  # already applied: acknowledge again, change nothing
            else:
                self._seen.add(headers["webhook-id"])
                figures.entities[data["entity_uuid"]] = data
            return 200, json.dumps(answer).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer = receiver.receive(headers, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler
