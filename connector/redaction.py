"""Keep secrets out of logs, dead-letter headers and error messages: the one `Redactor`.

A `Redactor` knows the secret values of the configuration (`contracts.secrecy` says which
values are secret; `ConnectorSettings.secrets()` collects them) and replaces every
occurrence in free text — messages, stack traces — with ``***``, also in the forms a value
takes on its way into a message:

- percent-encoded, whatever characters the encoder kept (``quote(s)`` keeps ``/``,
  ``quote(s, safe="")`` does not, ``quote_plus`` turns spaces into ``+``; hex in either case);
- JSON-escaped (``\\"``, ``\\u00e4``), ``repr``/``ascii`` of the text, and ``repr`` of its
  UTF-8 bytes (``b'p\\xc3\\xa4ss'``);
- base64 (standard and URL-safe) of any text containing it, e.g. ``Authorization: Basic``
  with ``user:password``: the aligned middle of the encoding is masked, so secrets of at
  least 8 bytes are covered at every offset (a character or two at each edge may remain).

Not covered: double encodings, hex, hashes, other character sets (UTF-16), parts of a
secret, secrets split across records, and values the configuration does not hold (tokens a
driver obtains at run time).

Secrets shorter than `MIN_SECRET_LENGTH` are not redacted: masking "000" everywhere would
mangle uuids and offsets without protecting anything. They are listed in `unredacted` so the
runtime can warn about each at start-up; secrets shorter than `FULL_BASE64_BYTES` (UTF-8)
are masked as text but their base64 only at some offsets, and listed in `base64_partial`.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import traceback
from collections.abc import Iterable
from typing import Any

from contracts.secrecy import FoundSecret

__all__ = [
    "FULL_BASE64_BYTES",
    "MASK",
    "MIN_SECRET_LENGTH",
    "RedactingFilter",
    "Redactor",
    "bounded_head",
    "bounded_tail",
    "qualified_name",
]

MASK = "***"
MIN_SECRET_LENGTH = 6
_MIN_BASE64_BYTES = 6  # an 8-character core: rare enough by chance not to mask anything else
FULL_BASE64_BYTES = _MIN_BASE64_BYTES + 2
"""From this many bytes on, a secret's base64 is masked at every offset in the encoded text."""
_MAX_MESSAGE_BYTES = 4096
_MAX_STACK_BYTES = 8192
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


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


def _hex_any_case(byte: int) -> str:
    return "%" + "".join(f"[{c}{c.lower()}]" if c.isalpha() else c for c in f"{byte:02X}")


def _percent_pattern(secret: str) -> str:
    """Matches `secret` with any of its characters percent-encoded (or ``+`` for a space)."""
    parts = []
    for char in secret:
        if char in _UNRESERVED:
            parts.append(re.escape(char))
            continue
        forms = [re.escape(char), "".join(_hex_any_case(b) for b in char.encode("utf-8"))]
        if char == " ":
            forms.append(r"\+")
        parts.append(f"(?:{'|'.join(forms)})")
    return "".join(parts)


def _base64_cores(secret: str) -> set[str]:
    """The parts of a base64 encoding that are the same wherever `secret` sits in the text."""
    data = secret.encode("utf-8")
    cores: set[str] = set()
    for skip in range(3):  # the secret starts at offset 0, 1 or 2 of a 3-byte group
        aligned = data[skip:]
        usable = len(aligned) // 3 * 3
        if usable >= _MIN_BASE64_BYTES:
            core = base64.b64encode(aligned[:usable]).decode("ascii")
            cores |= {core, core.replace("+", "-").replace("/", "_")}
    return cores


def _patterns(secret: str) -> list[str]:
    literal = {
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        repr(secret.encode("utf-8"))[2:-1],
        *_base64_cores(secret),
    } - {secret}
    ordered = sorted(literal, key=lambda s: (-len(s), s))
    return [_percent_pattern(secret), *map(re.escape, ordered)]


class Redactor:
    """Replaces known secret values (and their encoded forms) in text with ``***``.

    Built once per process from the configuration's secrets; give it `FoundSecret`s (or plain
    strings) — those too short to redact safely are skipped and named in `unredacted`.
    """

    def __init__(self, secrets: Iterable[str | FoundSecret] = ()) -> None:
        values: set[str] = set()
        short: dict[str, None] = {}
        partial: dict[str, None] = {}
        for secret in secrets:
            value = secret.value if isinstance(secret, FoundSecret) else secret
            if not isinstance(value, str) or not value:
                continue
            where = secret.where if isinstance(secret, FoundSecret) else "a secret"
            if len(value) >= MIN_SECRET_LENGTH:
                values.add(value)
                if len(value.encode("utf-8")) < FULL_BASE64_BYTES:
                    partial[where] = None
            else:
                short[where] = None
        self.unredacted: tuple[str, ...] = tuple(short)
        """Where the secrets too short to redact were found (never their values)."""
        self.base64_partial: tuple[str, ...] = tuple(partial)
        """Where secrets were found that are masked as text, but base64-encoded only at some
        offsets (shorter than `FULL_BASE64_BYTES`)."""
        # Longest first, so a secret containing another is masked whole.
        patterns = [
            p for value in sorted(values, key=lambda s: (-len(s), s)) for p in _patterns(value)
        ]
        self._pattern = re.compile("|".join(patterns)) if patterns else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def redact(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern is not None else text

    def redact_value(self, value: Any) -> Any:
        """`value` with every string inside it redacted (dicts, lists, tuples: copies)."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact_value(key): self.redact_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact_value(item) for item in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self.redact(str(value))

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


_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class RedactingFilter(logging.Filter):
    """Redacts a log record's message, arguments, exception text, stack and `extra` values.

    Attach it to handlers (filters on a logger don't see records propagated from children).
    The message is formatted once here, so formatters see the redacted text and no args; the
    exception is formatted here too (`exc_text`, `exc_info` cleared). `extra` values that are
    not strings (dicts, lists, objects) are replaced by redacted copies.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        r = self.redactor
        if getattr(record, "_iec_redacted", False):
            return True  # several handlers share one record
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
            if name not in _STANDARD_ATTRS and not name.startswith("_"):
                setattr(record, name, r.redact_value(value))
        record._iec_redacted = True
        return True
