"""Sort any exception into transient, permanent or fatal — the one decision retry and
dead-lettering depend on.

Contract errors say it themselves (`retriable`, `fatal`); common library exceptions are
classified by a table looked up along the exception's MRO (most specific class wins);
anything else follows the integration's `unknown_errors` setting, unless an explicit
`__cause__` (``raise DriverError(...) from httpx.ConnectError(...)``) is known.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from enum import StrEnum
from typing import Literal

import httpx
import pydantic
from confluent_kafka import KafkaException

from connector.codec.errors import CodecError
from connector.kafka.errors import ErrorFamily, error_of, family_of
from contracts.errors import ConfigurationError, FatalError, IntegrationError

__all__ = ["FailureKind", "UnknownPolicy", "classify"]

UnknownPolicy = Literal["transient", "permanent"]


class FailureKind(StrEnum):
    """What the runtime does with a failure."""

    TRANSIENT = "transient"
    """The operation may succeed later: retry with backoff, then dead-letter."""
    PERMANENT = "permanent"
    """The record itself is wrong: dead-letter at once."""
    FATAL = "fatal"
    """Configuration or code is wrong: stop the integration, commit nothing more."""


_T, _P, _F = FailureKind.TRANSIENT, FailureKind.PERMANENT, FailureKind.FATAL

_NETWORK_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EHOSTUNREACH", "EHOSTDOWN",
        "ENETUNREACH", "ENETDOWN", "ENETRESET", "ETIMEDOUT", "EPIPE", "EAGAIN",
    )
    if hasattr(errno, name)
)  # fmt: skip
_TRANSIENT_STATUS = frozenset({408, 425, 429})


def _contract(exc: BaseException) -> FailureKind:
    # Read the attributes from the instance: PartialBatchError computes `retriable`.
    if getattr(exc, "fatal", False):
        return _F
    return _T if getattr(exc, "retriable", False) else _P


def _http_status(exc: BaseException) -> FailureKind:
    assert isinstance(exc, httpx.HTTPStatusError)
    status = exc.response.status_code
    if status in _TRANSIENT_STATUS or status >= 500:
        return _T
    return _P if 400 <= status < 500 else _F  # a 1xx/2xx/3xx "error" is a code bug


def _os_error(exc: BaseException) -> FailureKind | None:
    assert isinstance(exc, OSError)
    return _T if exc.errno in _NETWORK_ERRNOS else None


_KAFKA_KINDS = {
    ErrorFamily.TRANSIENT: _T,
    ErrorFamily.PERMANENT: _P,
    ErrorFamily.CONFIGURATION: _F,
    ErrorFamily.FATAL: _T,  # the client is replaced; the operation may then succeed
}


def _kafka(exc: BaseException) -> FailureKind | None:
    # The error families live with the Kafka layer (`connector.kafka.errors`): one table.
    error = error_of(exc)
    return None if error is None else _KAFKA_KINDS[family_of(error)]


_Rule = FailureKind | Callable[[BaseException], FailureKind | None]

# Looked up along type(exc).__mro__: the most specific listed class decides. A rule that
# returns None means "not known": the lookup goes on to the `__cause__` and then `unknown`.
_TABLE: dict[type[BaseException], _Rule] = {
    # the contract
    IntegrationError: _contract,
    FatalError: _F,
    ConfigurationError: _F,
    CodecError: _P,
    # infrastructure: try again later
    TimeoutError: _T,  # also asyncio.TimeoutError and concurrent.futures.TimeoutError
    ConnectionError: _T,
    socket.gaierror: _T,  # DNS resolution failed
    OSError: _os_error,
    httpx.TimeoutException: _T,
    httpx.NetworkError: _T,
    httpx.TransportError: _T,
    httpx.HTTPStatusError: _http_status,
    KafkaException: _kafka,
    # the record's data
    pydantic.ValidationError: _P,
    ValueError: _P,
    LookupError: _P,  # KeyError, IndexError
    TypeError: _P,
    UnicodeError: _P,
    # the code or the installation
    NotImplementedError: _F,
    ImportError: _F,
}

_MAX_CAUSE_DEPTH = 8


def _lookup(exc: BaseException) -> FailureKind | None:
    if not isinstance(exc, Exception):
        # CancelledError, KeyboardInterrupt, SystemExit: never retried, never dead-lettered.
        return _F
    for cls in type(exc).__mro__:
        rule = _TABLE.get(cls)
        if rule is None:
            continue
        return rule if isinstance(rule, FailureKind) else rule(exc)
    return None


def classify(exc: BaseException, unknown: UnknownPolicy = "transient") -> FailureKind:
    """The kind of `exc`.

    An exception the table doesn't know is classified by its explicit `__cause__` chain
    (drivers often wrap a library error), else by `unknown`.
    """
    current: BaseException | None = exc
    for _ in range(_MAX_CAUSE_DEPTH):
        if current is None:
            break
        kind = _lookup(current)
        if kind is not None:
            return kind
        current = current.__cause__
    return FailureKind(unknown)
