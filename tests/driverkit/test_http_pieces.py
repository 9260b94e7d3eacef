"""driverkit's pure parts: the status table, Retry-After, excerpts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from contracts import (
    ConfigurationError,
    IntegrationError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from driverkit import (
    AuthenticationError,
    body_excerpt,
    default_error_class,
    make_error,
    parse_retry_after,
)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, None),
        (201, None),
        (204, None),
        (408, TransientError),
        (425, TransientError),
        (429, RateLimitedError),
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
        (599, TransientError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (400, PermanentError),
        (404, PermanentError),
        (409, PermanentError),
        (410, PermanentError),
        (422, PermanentError),
        (301, PermanentError),
        (304, PermanentError),
    ],
)
def test_default_status_table(status: int, expected: type[IntegrationError] | None) -> None:
    assert default_error_class(status) is expected


def test_authentication_errors_are_fatal_configuration_errors() -> None:
    error = make_error(AuthenticationError, "HTTP 401")
    assert isinstance(error, ConfigurationError)
    assert error.fatal
    assert not error.retriable


def test_a_retry_after_hint_turns_a_transient_error_into_a_rate_limit() -> None:
    hinted = make_error(TransientError, "HTTP 503", retry_after=12.0)
    assert isinstance(hinted, RateLimitedError)
    assert hinted.retry_after == 12.0
    assert type(make_error(TransientError, "HTTP 503")) is TransientError
    limited = make_error(RateLimitedError, "HTTP 429")
    assert isinstance(limited, RateLimitedError)
    assert limited.retry_after is None
    assert type(make_error(PermanentError, "HTTP 400", retry_after=3.0)) is PermanentError


NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past
        ("Wednesday, 21-Oct-15 07:29:00 GMT", 60.0),  # RFC 850, obsolete but allowed
        ("99999999", 86400.0),  # clamped to a day
        ("-5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_excerpts_are_bounded_flattened_and_secret_free() -> None:
    body = ("line one\n\tline\x00two " + "y" * 1000).encode()
    excerpt = body_excerpt(body, limit=40)
    assert excerpt.startswith("line one line two yyy")
    assert excerpt.endswith(f"… ({len(body)} bytes)")
    assert len(excerpt) < 70
    secret = "hunter2-but-longer"
    leaked = f'{{"error": "token {secret} expired", "again": "{secret}"}}'.encode()
    assert secret not in body_excerpt(leaked, [secret])
    assert body_excerpt(leaked, [secret]).count("<redacted>") == 2
    assert body_excerpt(b"") == "<empty body>"
    assert body_excerpt("é".encode() + b"\xff") == "é\ufffd"


def test_a_secret_echoed_json_escaped_is_replaced_too() -> None:
    # A JSON error body quotes the request's value escaped: '"' -> '\\"', '/' maybe '\\/'.
    secret = 'abc/def"ghi1234é'
    for echoed in (json.dumps(secret), json.dumps(secret, ensure_ascii=False)):
        body = f'{{"error": "bad token {echoed[1:-1]}"}}'.encode()
        excerpt = body_excerpt(body, [secret])
        assert "ghi1234" not in excerpt
        assert excerpt == '{"error": "bad token <redacted>"}'
    escaped_slash = json.dumps(secret)[1:-1].replace("/", "\\/")
    assert "ghi1234" not in body_excerpt(escaped_slash.encode(), [secret])


def test_a_secret_straddling_the_cut_is_still_replaced() -> None:
    secret = "abcdefghijklmnop"
    body = ("x" * 35 + secret + "z" * 100).encode()
    excerpt = body_excerpt(body, [secret], limit=40)
    assert "abcde" not in excerpt
    assert excerpt.startswith("x" * 35 + "<red")
