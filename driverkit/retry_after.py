"""Parse an HTTP ``Retry-After`` header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["parse_retry_after"]

_MAX_S = 24 * 3600.0
"""Hints beyond a day are clamped: a wrong clock or a typo should not park a record for years."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait, from a ``Retry-After`` value; None if absent or unreadable.

    ``"120"`` → 120.0; ``"Wed, 21 Oct 2015 07:28:00 GMT"`` → seconds from `now` (default: the
    current UTC time) to that date, 0 if it has passed. Results are clamped to [0, 1 day].
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return min(float(text), _MAX_S)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" dates: RFC 5322 says UTC
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), _MAX_S)
