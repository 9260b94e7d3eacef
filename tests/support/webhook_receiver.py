"""A real HTTP server standing in for a webhook receiver, for driver tests.

It runs `http.server.ThreadingHTTPServer` on 127.0.0.1 (a free port) in a thread, checks the
``X-Signature`` HMAC of every POST (401 if it is wrong), stores the last body per entity and
answers ``{"id": "wh-<n>"}`` with an id that is stable per entity, so a replay changes
nothing. `script()` queues canned answers (status, headers, body) for the next requests,
`delay_s` slows every answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["CannedAnswer", "WebhookReceiver", "running_receiver"]


@dataclass(frozen=True, slots=True)
class CannedAnswer:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class WebhookReceiver:
    """The receiver's state; `url` is where it listens."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.entities: dict[str, dict[str, Any]] = {}
        self.ids: dict[str, str] = {}
        self.requests: list[tuple[Mapping[str, str], bytes]] = []
        self.delay_s = 0.0
        self._canned: deque[CannedAnswer] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def script(self, *answers: CannedAnswer) -> None:
        with self._lock:
            self._canned.extend(answers)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self.entities))  # type: ignore[no-any-return]

    def _answer(self, headers: Mapping[str, str], body: bytes) -> CannedAnswer:
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            self.requests.append((headers, body))
            if self._canned:
                return self._canned.popleft()
            expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(headers.get("x-signature", ""), expected):
                return CannedAnswer(401, body=b'{"message": "bad signature"}')
            mutation = json.loads(body)
            uuid = mutation["entity_uuid"]
            if mutation["operation"] == "deleted":
                self.entities.pop(uuid, None)
                return CannedAnswer(204)
            self.entities[uuid] = mutation["payload"]
            external_id = self.ids.setdefault(uuid, f"wh-{len(self.ids) + 1}")
            return CannedAnswer(200, {"Content-Type": "application/json"}, _id_body(external_id))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per answer

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = receiver._answer(headers, body)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    def serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _id_body(external_id: str) -> bytes:
    return json.dumps({"id": external_id}).encode()


@contextmanager
def running_receiver(secret: str) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret)
    thread = threading.Thread(target=receiver.serve, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.stop()
        thread.join(timeout=5)
