from __future__ import annotations

import io
import logging
from urllib.parse import quote

import pytest

from connector.redaction import MASK, RedactingFilter, Redactor, bounded_tail

SECRET = "s3cr3t/T0ken+value"


class DownstreamError(Exception):
    pass


def _raise_with_secret() -> None:
    def call_api(token: str) -> None:
        raise DownstreamError(f"401 for https://shop.example/api?token={quote(token, safe='')}")

    try:
        call_api(SECRET)
    except DownstreamError as inner:
        raise RuntimeError(f"sync failed with Authorization: Bearer {SECRET}") from inner


def test_every_occurrence_and_encoded_form_is_masked() -> None:
    r = Redactor([SECRET])
    text = f'a {SECRET} b {quote(SECRET, safe="")} c {{"token": "{SECRET}"}} d {SECRET}'
    out = r.redact(text)
    assert SECRET not in out
    assert quote(SECRET, safe="") not in out
    assert out.count(MASK) == 4


def test_json_escaped_form_is_masked() -> None:
    secret = 'pa"ss\\word'
    out = Redactor([secret]).redact('{"password": "pa\\"ss\\\\word"}')
    assert out == '{"password": "***"}'


def test_short_values_are_not_treated_as_secrets() -> None:
    r = Redactor(["ab", "", "long-enough"])
    assert r.redact("ab long-enough") == "ab ***"
    assert not Redactor(["ab"])


def test_overlapping_secrets_are_masked_whole() -> None:
    r = Redactor(["token", "token-with-suffix"])
    assert r.redact("x token-with-suffix y") == "x *** y"


def test_exception_message_and_traceback_are_redacted() -> None:
    r = Redactor([SECRET])
    with pytest.raises(RuntimeError) as info:
        _raise_with_secret()

    cls, message, stack = r.redact_exception(info.value)

    assert cls == "RuntimeError"
    assert message == "sync failed with Authorization: Bearer ***"
    assert "DownstreamError" in stack  # the cause is part of the stack
    assert "call_api" in stack
    assert SECRET not in stack
    assert quote(SECRET, safe="") not in stack


def test_stack_is_bounded_keeping_the_innermost_frames() -> None:
    def chain(n: int) -> None:
        # 50 chained errors: a long stack whose last part is the innermost (most recent) error
        try:
            if n == 0:
                raise KeyError(f"root cause {n}")
            chain(n - 1)
        except Exception as exc:
            message = f"deepest with {SECRET}" if n == 50 else f"level {n} " + "x" * 100
            raise ValueError(message) from exc

    with pytest.raises(ValueError, match="deepest") as info:
        chain(50)

    _, _, stack = Redactor([SECRET]).redact_exception(info.value, max_stack_bytes=2048)

    assert len(stack.encode()) <= 2048
    assert stack.startswith("…[truncated]…")
    assert stack.rstrip().endswith("ValueError: deepest with ***")


def test_bounded_tail_never_splits_a_character() -> None:
    out = bounded_tail("é" * 100, 51, marker="")
    assert out == "é" * 25


def test_log_lines_pass_through_the_filter_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(target)s"))
    handler.addFilter(RedactingFilter(Redactor([SECRET])))
    log = logging.getLogger("test_redaction.filter")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("calling %s with %s", "https://shop.example", SECRET, extra={"target": SECRET})
        try:
            _raise_with_secret()
        except RuntimeError:
            log.exception("handle_batch failed", extra={"target": "magento"})
    finally:
        log.removeHandler(handler)

    out = stream.getvalue()
    assert SECRET not in out
    assert quote(SECRET, safe="") not in out
    assert "WARNING calling https://shop.example with *** ***" in out
    assert "Traceback (most recent call last)" in out
    assert "RuntimeError: sync failed with Authorization: Bearer ***" in out
