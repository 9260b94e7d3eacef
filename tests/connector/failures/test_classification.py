from __future__ import annotations

import asyncio
import errno

import httpx
import pydantic
import pytest

from connector.codec.errors import CodecError
from connector.failures import FailureKind, RetriesExhaustedError, classify
from contracts.errors import (
    ConfigurationError,
    ConfigValidationError,
    DependencyNotReadyError,
    FatalError,
    PartialBatchError,
    PermanentError,
    RateLimitedError,
    TransientError,
)

T, P, F = FailureKind.TRANSIENT, FailureKind.PERMANENT, FailureKind.FATAL


def _status_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "https://shop.example/rest/V1/products")
    response = httpx.Response(status, request=request)
    return httpx.HTTPStatusError(f"status {status}", request=request, response=response)


class _Model(pydantic.BaseModel):
    sku: str


def _validation_error() -> pydantic.ValidationError:
    try:
        _Model.model_validate({})
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("validation should fail")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TransientError("down"), T),
        (DependencyNotReadyError("category not mapped"), T),
        (RateLimitedError("slow down", retry_after=2), T),
        (PermanentError("bad"), P),
        (CodecError("avro", "truncated"), P),
        (RetriesExhaustedError(TimeoutError(), 3), P),
        (FatalError("broken"), F),
        (ConfigurationError("no url"), F),
        (ConfigValidationError([]), F),
        (PartialBatchError({0: TransientError("a"), 1: RateLimitedError("b")}), T),
        (PartialBatchError({0: TransientError("a"), 1: PermanentError("b")}), P),
        (TimeoutError(), T),
        (asyncio.TimeoutError(), T),  # noqa: UP041 - the alias must classify too
        (ConnectionRefusedError(), T),
        (ConnectionResetError(), T),
        (OSError(errno.ENETUNREACH, "network unreachable"), T),
        (httpx.ConnectTimeout("connect timed out"), T),
        (httpx.ReadTimeout("read timed out"), T),
        (httpx.ConnectError("refused"), T),
        (httpx.RemoteProtocolError("peer closed"), T),
        (_status_error(408), T),
        (_status_error(425), T),
        (_status_error(429), T),
        (_status_error(500), T),
        (_status_error(503), T),
        (_status_error(400), P),
        (_status_error(404), P),
        (_status_error(422), P),
        (_validation_error(), P),
        (ValueError("bad sku"), P),
        (KeyError("sku"), P),
        (IndexError(3), P),
        (TypeError("str expected"), P),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), P),
        (NotImplementedError(), F),
        (ImportError("no module"), F),
        (ModuleNotFoundError("no module"), F),
    ],
)
def test_known_exceptions_are_classified_by_the_table(
    exc: BaseException, kind: FailureKind
) -> None:
    assert classify(exc, "permanent" if kind is T else "transient") is kind


@pytest.mark.parametrize("policy", ["transient", "permanent"])
def test_unknown_exceptions_follow_the_configured_default(policy: str) -> None:
    assert classify(RuntimeError("?"), policy) is FailureKind(policy)  # type: ignore[arg-type]
    assert classify(FileNotFoundError(2, "missing"), policy) is FailureKind(policy)  # type: ignore[arg-type]


def test_a_wrapped_library_error_is_classified_by_its_cause() -> None:
    class SyncFailedError(Exception):
        pass

    def sync() -> None:
        try:
            raise httpx.ConnectError("refused")
        except httpx.ConnectError as inner:
            raise SyncFailedError("sync failed") from inner

    with pytest.raises(SyncFailedError) as info:
        sync()
    assert classify(info.value, "permanent") is T


def test_a_known_outer_error_wins_over_its_cause() -> None:
    outer = ValueError("bad")
    outer.__cause__ = TimeoutError()
    assert classify(outer, "transient") is P


@pytest.mark.parametrize("exc", [asyncio.CancelledError(), KeyboardInterrupt(), SystemExit(1)])
def test_control_flow_exceptions_are_fatal_never_retried(exc: BaseException) -> None:
    assert classify(exc, "transient") is F
