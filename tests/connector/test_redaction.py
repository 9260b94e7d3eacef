from __future__ import annotations

import io
import json
import logging
from base64 import b64encode, urlsafe_b64encode
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest

from connector.redaction import MASK, RedactingFilter, Redactor, bounded_tail
from contracts.secrecy import FoundSecret

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


def test_short_values_are_not_redacted_but_named_for_a_warning() -> None:
    r = Redactor([FoundSecret("kafka.sasl_password", "000"), "", "long-enough"])
    uuid = "3f2b8c1e-5d4a-4e2f-9b7c-000a2b3c4d5e"
    assert r.redact(f"{uuid} long-enough offset 1000") == f"{uuid} *** offset 1000"
    assert r.unredacted == ("kafka.sasl_password",)
    assert not Redactor(["ab"])


@pytest.mark.parametrize(
    ("encode", "kept"),
    [
        # kept: characters of the encoded text left around the mask (quotes, prefixes, and
        # for base64 the encoding of the non-secret prefix plus at most 2 edge characters)
        pytest.param(lambda s: quote(s), 0, id="quote-keeping-slash"),
        pytest.param(lambda s: quote(s, safe=""), 0, id="quote-nothing-safe"),
        pytest.param(lambda s: quote_plus(s), 0, id="quote_plus"),
        pytest.param(lambda s: quote(s, safe="").lower(), 0, id="lowercase-hex"),
        pytest.param(lambda s: repr(s.encode()), 3, id="utf8-bytes-repr"),
        pytest.param(lambda s: ascii(s), 2, id="ascii"),
        pytest.param(lambda s: json.dumps(s), 2, id="json-ascii"),
        pytest.param(lambda s: json.dumps({"k": s}, ensure_ascii=False), 9, id="json-utf8"),
        pytest.param(lambda s: b64encode(f"shop:{s}".encode()).decode(), 8 + 4, id="basic"),
        pytest.param(lambda s: b64encode(f"sh:{s}".encode()).decode(), 4 + 4, id="base64-at-3"),
        pytest.param(lambda s: b64encode(f"s:{s}!".encode()).decode(), 4 + 4, id="base64-at-2"),
        pytest.param(lambda s: b64encode(f"x{s}".encode()).decode(), 4 + 4, id="base64-at-1"),
        pytest.param(lambda s: urlsafe_b64encode(s.encode()).decode(), 4, id="base64-urlsafe"),
    ],
)
def test_encoded_forms_are_masked(encode: Callable[[str], str], kept: int) -> None:
    secret = "pä ss/wörd+1 €"
    out = Redactor([secret]).redact(f"error body: {encode(secret)} (end)")
    assert out.startswith("error body: ")
    assert out.endswith(" (end)")
    assert MASK in out
    assert len(out) - len("error body:  (end)") - len(MASK) <= kept, out


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


def test_a_url_password_with_an_unencoded_at_sign_is_masked_without_a_short_warning() -> None:
    from contracts.secrecy import find_secrets

    r = Redactor(find_secrets({"url": "https://user:pa@ss-Wd1234@shop.test/x"}))
    assert r.redact("login failed for pa@ss-Wd1234") == f"login failed for {MASK}"
    assert r.unredacted == ()


def test_basic_auth_and_auth_header_values_are_masked() -> None:
    from contracts.secrecy import find_secrets

    r = Redactor(find_secrets({"basic_auth": "shop:Canary-Basic-777", "auth": "Bearer Cnry-8"}))
    out = r.redact("sent shop:Canary-Basic-777 then Authorization: Bearer Cnry-8")
    assert "Canary-Basic-777" not in out
    assert "Cnry-8" not in out


def test_secrets_too_short_for_full_base64_coverage_are_named_for_a_warning() -> None:
    from base64 import b64encode

    r = Redactor([FoundSecret("kafka.sasl_password", "Sev3n-7"), FoundSecret("x.key", "Eight-88")])
    assert r.base64_partial == ("kafka.sasl_password",)
    assert r.redact("pw Sev3n-7") == f"pw {MASK}"  # the text itself is masked
    # the reason: some offsets of its base64 form escape (an 8-byte one never does)
    escaped = [
        p
        for p in ("", "a", "ab")
        if "***" not in r.redact(b64encode(f"{p}Sev3n-7".encode()).decode())
    ]
    assert escaped
    for prefix in ("", "a", "ab"):
        assert MASK in r.redact(b64encode(f"{prefix}Eight-88".encode()).decode())
