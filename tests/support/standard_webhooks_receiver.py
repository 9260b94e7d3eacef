"""A real HTTP(S) server receiving Standard Webhooks, for the webhook driver's tests.

Every POST is verified with the `standardwebhooks` package (the specification's reference
library, an independent check of our signing) against the receiver's own secret; a request
that fails verification gets 401. A verified message (or each element of a JSON array, in
batch mode) updates `entities` (the last data per entity uuid) and is answered with a stable
id per entity: ``{"id": "ext-<n>"}``, or an array of those. `script()` queues canned answers;
`refuse` answers messages about chosen entities; `delay_s` and `jitter_s` slow answers;
`max_in_flight` records the most requests served at once. With `tls` (a trustme CA) it
speaks HTTPS, and with `require_client_cert` mutual TLS.
"""

from __future__ import annotations

import base64
import json
import os
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import trustme
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

__all__ = [
    "CannedAnswer",
    "Delivery",
    "StandardWebhooksReceiver",
    "new_secret",
    "running_receiver",
]


def new_secret() -> str:
    """A fresh Standard Webhooks secret (32 random bytes)."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@dataclass(frozen=True, slots=True)
class CannedAnswer:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request as received: lower-cased headers, body, whether it verified."""

    headers: Mapping[str, str]
    body: bytes
    verified: bool

    @property
    def message(self) -> Any:
        return json.loads(self.body)


class StandardWebhooksReceiver:
    def __init__(
        self,
        secret: str,
        *,
        tls: trustme.CA | None = None,
        require_client_cert: bool = False,
    ) -> None:
        self.webhook = Webhook(secret)
        self.entities: dict[str, dict[str, Any]] = {}
        self.ids: dict[str, str] = {}
        self.deliveries: list[Delivery] = []
        self.refuse: dict[str, CannedAnswer] = {}
        """Answers for messages about these entity uuids (per-mutation mode)."""
        self.delay_s = 0.0
        self.jitter_s = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._canned: deque[CannedAnswer] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        scheme = "http"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.issue_cert("127.0.0.1", "localhost").configure_cert(context)
            if require_client_cert:
                context.verify_mode = ssl.CERT_REQUIRED
                tls.configure_trust(context)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}/hooks/iec"

    def script(self, *answers: CannedAnswer) -> None:
        """Answer the next requests with these (after verifying and recording them)."""
        with self._lock:
            self._canned.extend(answers)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self.entities))  # type: ignore[no-any-return]

    def verified_messages(self) -> list[dict[str, Any]]:
        """Every verified message, batch arrays flattened, in arrival order."""
        found: list[dict[str, Any]] = []
        for delivery in list(self.deliveries):
            if delivery.verified:
                body = delivery.message
                found.extend(body if isinstance(body, list) else [body])
        return found

    def _apply(self, message: dict[str, Any]) -> dict[str, str]:
        data = message["data"]
        uuid = data["entity_uuid"]
        if data["operation"] == "deleted":
            self.entities.pop(uuid, None)
        else:
            self.entities[uuid] = data["payload"]
        return {"id": self.ids.setdefault(uuid, f"ext-{len(self.ids) + 1}")}

    def _answer(self, headers: Mapping[str, str], body: bytes) -> CannedAnswer:
        try:
            self.webhook.verify(body, dict(headers), json_parse=False)
            verified = True
        except WebhookVerificationError:
            verified = False
        pause = self.delay_s + random.uniform(0, self.jitter_s)
        if pause:
            time.sleep(pause)
        with self._lock:
            self.deliveries.append(Delivery(headers, body, verified))
            if self._canned:
                return self._canned.popleft()
            if not verified:
                return CannedAnswer(401, body=b'{"message": "bad signature"}')
            parsed = json.loads(body)
            if isinstance(parsed, dict) and parsed["data"]["entity_uuid"] in self.refuse:
                return self.refuse[parsed["data"]["entity_uuid"]]
            if isinstance(parsed, list):
                answer: Any = [self._apply(m) for m in parsed]
            else:
                answer = self._apply(parsed)
            return CannedAnswer(
                200, {"Content-Type": "application/json"}, json.dumps(answer).encode()
            )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                with receiver._lock:
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                try:
                    body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    answer = receiver._answer(headers, body)
                finally:
                    with receiver._lock:
                        receiver.in_flight -= 1
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    def serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def running_receiver(
    secret: str, *, tls: trustme.CA | None = None, require_client_cert: bool = False
) -> Iterator[StandardWebhooksReceiver]:
    receiver = StandardWebhooksReceiver(secret, tls=tls, require_client_cert=require_client_cert)
    thread = threading.Thread(target=receiver.serve, name="webhooks-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.stop()
        thread.join(timeout=5)
