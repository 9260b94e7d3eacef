"""Bounded, secret-safe excerpts of response bodies for error messages.

An error message travels to logs and dead-letter headers, so what a driver quotes from a
response must be short and must not carry secrets: the excerpt is cut to a limit, control
characters and runs of whitespace are collapsed, and every known secret value (the
configuration's secrets, the values of the request's credential headers) is replaced
where it appears literally or JSON-escaped (``\\"``, ``\\/``, ``\\u00e9``). Other encodings
(percent-encoded, base64) are left to the runtime's redaction, which masks them before a
message reaches a log or a dead letter. Request headers themselves are never quoted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

__all__ = ["DEFAULT_EXCERPT_CHARS", "REDACTED", "body_excerpt"]

DEFAULT_EXCERPT_CHARS = 300
REDACTED = "<redacted>"
_MIN_SECRET_CHARS = 4  # shorter "secrets" would mangle the text and reveal little
_SPACE = re.compile(r"[\s\x00-\x1f\x7f]+")


def body_excerpt(
    content: bytes, secrets: Iterable[str] = (), limit: int = DEFAULT_EXCERPT_CHARS
) -> str:
    """At most `limit` characters of `content` (decoded as UTF-8), with `secrets` replaced.

    A cut excerpt ends with ``… (N bytes)`` giving the body's full size; an empty body gives
    ``<empty body>``.
    """
    if not content:
        return "<empty body>"
    values = sorted(
        {form for s in secrets if len(s) >= _MIN_SECRET_CHARS for form in _forms(s)},
        key=len,
        reverse=True,
    )
    # Decode a little more than we keep, so a secret straddling the cut is still found.
    longest = max((len(s) for s in values), default=0)
    window = content[: 4 * (limit + longest) + 4]
    text = window.decode("utf-8", "replace")
    for secret in values:
        text = text.replace(secret, REDACTED)
    text = _SPACE.sub(" ", text).strip()
    if len(text) <= limit and len(window) == len(content):
        return text
    return f"{text[:limit].rstrip()}… ({len(content)} bytes)"


def _forms(secret: str) -> set[str]:
    """`secret` as written and as a JSON string quotes it (escaped, ASCII-escaped, with
    ``\\/``): error bodies often echo the request's JSON."""
    forms = {secret}
    for ascii_only in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        forms |= {escaped, escaped.replace("/", "\\/")}
    return forms
