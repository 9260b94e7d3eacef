"""Standard Webhooks signing and message ids (pure, no I/O).

The Standard Webhooks specification (standardwebhooks.com) signs every request with three
headers:

* ``webhook-id`` — the message id, the same for every delivery of one message, so a
  receiver de-duplicates retries and replays (the specification: no ``.`` in it);
* ``webhook-timestamp`` — integer seconds since the epoch at sending (receivers reject
  stale ones, so a retry is signed afresh);
* ``webhook-signature`` — ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, one per
  secret, separated by spaces: during a rotation both the old and the new secret sign and
  the receiver accepts either.

Secrets are ``whsec_`` followed by the base64 of 24 to 64 random bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence

import orjson

from contracts import MutationData

__all__ = [
    "SECRET_PREFIX",
    "batch_id",
    "decode_secret",
    "message_id",
    "signature_header",
    "signed_headers",
]

SECRET_PREFIX = "whsec_"
_MIN_KEY_BYTES, _MAX_KEY_BYTES = 24, 64
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret; ValueError (without the value) if bad."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a signing secret starts with {SECRET_PREFIX!r} (Standard Webhooks)")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"after {SECRET_PREFIX!r} a signing secret is base64") from None
    if not _MIN_KEY_BYTES <= len(key) <= _MAX_KEY_BYTES:
        raise ValueError(
            f"a signing secret holds {_MIN_KEY_BYTES} to {_MAX_KEY_BYTES} bytes of key; make "
            f"one with: python -c \"import base64,os; print('whsec_' + "
            f'base64.b64encode(os.urandom(32)).decode())"'
        )
    return key


def message_id(mutation: MutationData) -> str:
    """The mutation's message id: ``msg_<event_id>``; a digest of the event id when it is not
    1-200 of ``A-Z a-z 0-9 _ -`` (an id goes into a header and is signed as ``id.ts.body``,
    so no ``.``, no line breaks, ASCII only); without an event id, a digest of the record
    itself. Either way every delivery of the same record carries the same id."""
    event_id = mutation.event_id
    if event_id and _SAFE_ID.fullmatch(event_id):
        return f"msg_{event_id}"
    if event_id:
        canonical = event_id.encode("utf-8", "surrogatepass")
    else:
        canonical = orjson.dumps(mutation.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return f"msg_{hashlib.sha256(canonical).hexdigest()[:32]}"


def batch_id(ids: Sequence[str]) -> str:
    """The id of a batch message: a digest of its members' ids, stable for the same batch."""
    return f"msg_batch_{hashlib.sha256(' '.join(ids).encode()).hexdigest()[:32]}"


def signature_header(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<sig>`` for each key, space-separated."""
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for key in keys
    )


def signed_headers(
    keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers of one delivery."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(keys, msg_id, timestamp, body),
    }
