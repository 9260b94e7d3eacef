"""Keep secrets out of logs, dead-letter headers and error messages.

A `Redactor` knows the secret values of an integration's configuration (tokens, passwords)
and replaces every occurrence with ``***`` — also their URL-encoded, JSON-escaped and
``repr``-escaped forms, as they appear in URLs, request bodies and exception reprs.
Values shorter than `MIN_SECRET_LENGTH` are ignored: replacing "1" or "on" everywhere would
mangle every message without protecting anything worth protecting.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "RedactingFilter",
    "Redactor",
    "bounded_head",
    "bounded_tail",
    "qualified_name",
]

MASK = "***"
MIN_SECRET_LENGTH = 3
_MAX_MESSAGE_BYTES = 4096
_MAX_STACK_BYTES = 8192


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class (builtins without the module)."""
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def bounded_tail(text: str, max_bytes: int, *, marker: str = "…[truncated]…\n") -> str:
    """`text` if it fits `max_bytes` of UTF-8, else the marker and as much of its end as fits.

    The end is kept because it holds the innermost frames and the error itself.
    """
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max(max_bytes - len(marker.encode("utf-8")), 0)
    return marker + data[len(data) - room :].decode("utf-8", errors="ignore")


def bounded_head(text: str, max_bytes: int, *, marker: str = "…[truncated]") -> str:
    """`text` if it fits `max_bytes` of UTF-8, else as much of its start as fits and a marker."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max(max_bytes - len(marker.encode("utf-8")), 0)
    return data[:room].decode("utf-8", errors="ignore") + marker


def _variants(secret: str) -> set[str]:
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
    }


class Redactor:
    """Replaces known secret values in text with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms = {
            form
            for secret in secrets
            if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH
            for form in _variants(secret)
        }
        # Longest first, so a secret containing another is masked whole.
        ordered = sorted(forms, key=lambda s: (-len(s), s))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def redact(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern is not None else text

    def redact_exception(
        self,
        exc: BaseException,
        *,
        max_message_bytes: int = _MAX_MESSAGE_BYTES,
        max_stack_bytes: int = _MAX_STACK_BYTES,
    ) -> tuple[str, str, str]:
        """(qualified class name, message, stack trace incl. causes), redacted then bounded.

        Redaction comes first so truncation can never leave half a secret unmasked.
        """
        message = bounded_head(self.redact(str(exc)), max_message_bytes)
        stack = "".join(traceback.format_exception(exc))
        return qualified_name(type(exc)), message, bounded_tail(self.redact(stack), max_stack_bytes)


_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Redacts a log record's message, arguments, exception text, stack and `extra` strings.

    Attach it to handlers (filters on a logger don't see records propagated from children).
    The message is formatted once here, so formatters see the redacted text and no args.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        r = self.redactor
        if not r:
            return True
        record.msg = r.redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = r.redact(
                "".join(traceback.format_exception(record.exc_info[1])).rstrip("\n")
            )
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = r.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = r.redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, r.redact(value))
        return True
