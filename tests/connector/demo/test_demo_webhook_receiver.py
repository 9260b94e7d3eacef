"""The demo's receiver checks signatures as the specification's library does."""

from __future__ import annotations

import base64
import os
import time
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from connector.demo.webhook_receiver import DemoReceiver

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
BODY = b'{"id": "msg_1", "data": {"entity_uuid": "e1", "entity_type": "product"}}'


def _headers(secret: str = SECRET, stamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if stamp is None else stamp
    signature = Webhook(secret).sign("msg_1", datetime.fromtimestamp(stamp, UTC), BODY.decode())
    return {"webhook-id": "msg_1", "webhook-timestamp": str(stamp), "webhook-signature": signature}


def test_a_reference_signature_verifies_and_a_repeated_id_changes_nothing() -> None:
    receiver = DemoReceiver(SECRET)
    try:
        assert receiver.receive(_headers(), BODY)[0] == 200
        assert receiver.receive(_headers(), BODY)[0] == 200
        assert (receiver.figures.verified, receiver.figures.duplicates) == (2, 1)
        assert list(receiver.figures.entities) == ["e1"]
    finally:
        receiver.stop()


def test_another_secret_or_a_stale_timestamp_is_refused() -> None:
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    receiver = DemoReceiver(SECRET)
    try:
        assert receiver.receive(_headers(other), BODY)[0] == 401
        assert receiver.receive(_headers(stamp=int(time.time()) - 3600), BODY)[0] == 401
        assert receiver.figures.rejected == 2
    finally:
        receiver.stop()
