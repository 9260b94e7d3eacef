"""Sort any exception into transient, permanent or fatal: what the runtime does with an
exception a driver lets escape, and what the contract suite expects of it.

One table for both (the runtime adds only rules for its own infrastructure, such as Kafka
client errors). Contract errors say it themselves (`retriable`, `fatal`); common library
exceptions are looked up along the exception's MRO, most specific class first. Libraries
`contracts` must not import (httpx) are matched by qualified class name, so the table holds
without them installed. An exception the table does not know is classified by its explicit
``__cause__`` (``raise DriverError(...) from httpx.ConnectError(...)``), else by the
integration's ``retry.unknown_errors`` policy.

========================================================  ==========
exception                                                  kind
========================================================  ==========
contract errors                                            their own
``TimeoutError``, ``ConnectionError``, DNS failures,       transient
network ``OSError``\\ s, ``httpx.TimeoutException``,
``httpx.TransportError``
``httpx.HTTPStatusError``                                  by status (`http_status_kind`)
``httpx.UnsupportedProtocol``, ``httpx.InvalidURL``,       fatal (the request can never
``httpx.LocalProtocolError``                               be sent: configuration)
``pydantic.ValidationError``, ``ValueError``,              permanent
``LookupError``, ``TypeError``, ``UnicodeError``
``NotImplementedError``, ``ImportError``                   fatal
``CancelledError``, ``KeyboardInterrupt``, ``SystemExit``  fatal (never retried or
                                                           dead-lettered)
========================================================  ==========
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

import pydantic

from contracts.errors import ConfigurationError, FatalError, IntegrationError

__all__ = [
    "DEFAULT_CLASSIFIER",
    "RULES",
    "TRANSIENT_HTTP_STATUSES",
    "Classifier",
    "FailureKind",
    "Rule",
    "UnknownPolicy",
    "classify",
    "http_status_kind",
]

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

TRANSIENT_HTTP_STATUSES = frozenset({408, 425, 429})
"""4xx statuses that mean "try again later" (Request Timeout, Too Early, Too Many Requests)."""


def http_status_kind(status: int) -> FailureKind | None:
    """The kind of an HTTP answer: None for 2xx; 408/425/429/5xx transient; 401/403 fatal
    (the credentials are refused: every record would fail alike); other 4xx permanent; an
    unfollowed 1xx/3xx permanent."""
    if 200 <= status < 300:
        return None
    if status in TRANSIENT_HTTP_STATUSES or 500 <= status < 600:
        return _T
    if status in (401, 403):
        return _F
    return _P


Rule = FailureKind | Callable[[BaseException], FailureKind | None]
"""A kind, or a function of the exception returning one (None: "not known", look further)."""

_NETWORK_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EHOSTUNREACH", "EHOSTDOWN",
        "ENETUNREACH", "ENETDOWN", "ENETRESET", "ETIMEDOUT", "EPIPE", "EAGAIN",
    )
    if hasattr(errno, name)
)  # fmt: skip


def _contract(exc: BaseException) -> FailureKind:
    # Read the attributes from the instance: PartialBatchError computes `retriable`.
    if getattr(exc, "fatal", False):
        return _F
    return _T if getattr(exc, "retriable", False) else _P


def _os_error(exc: BaseException) -> FailureKind | None:
    return _T if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS else None


def _http_status_error(exc: BaseException) -> FailureKind | None:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if not isinstance(status, int):
        return None
    return http_status_kind(status) or _F  # a 2xx "error" is a bug in the code


RULES: Mapping[type[BaseException] | str, Rule] = MappingProxyType(
    {
        # the contract
        IntegrationError: _contract,
        FatalError: _F,
        ConfigurationError: _F,
        # infrastructure: try again later
        TimeoutError: _T,  # also asyncio.TimeoutError and concurrent.futures.TimeoutError
        ConnectionError: _T,
        socket.gaierror: _T,  # DNS resolution failed
        OSError: _os_error,
        "httpx.UnsupportedProtocol": _F,  # a request that can never be sent: configuration
        "httpx.InvalidURL": _F,
        "httpx.LocalProtocolError": _F,  # e.g. a header value with a line break
        "httpx.TimeoutException": _T,
        "httpx.NetworkError": _T,
        "httpx.TransportError": _T,
        "httpx.HTTPStatusError": _http_status_error,
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
)
"""The table: exception class (or ``"module.QualifiedName"`` of a class) → rule."""

_MAX_CAUSE_DEPTH = 8


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class Classifier:
    """A classification table; `classify` walks an exception's MRO and then its causes."""

    def __init__(self, rules: Mapping[type[BaseException] | str, Rule] = RULES) -> None:
        self.rules: Mapping[type[BaseException] | str, Rule] = MappingProxyType(dict(rules))

    def with_rules(self, extra: Mapping[type[BaseException] | str, Rule]) -> Classifier:
        """This table plus `extra` (which wins for the keys both have)."""
        return Classifier({**self.rules, **extra})

    def kind_of(self, exc: BaseException) -> FailureKind | None:
        """The kind `exc` itself has by the table (its causes not consulted), or None."""
        if not isinstance(exc, Exception):
            # CancelledError, KeyboardInterrupt, SystemExit: never retried, never dead-lettered.
            return _F
        for cls in type(exc).__mro__:
            rule = self.rules.get(cls)
            if rule is None:
                rule = self.rules.get(_name(cls))
            if rule is None:
                continue
            return rule if isinstance(rule, FailureKind) else rule(exc)
        return None

    def classify(self, exc: BaseException, unknown: UnknownPolicy = "transient") -> FailureKind:
        """The kind of `exc`: by the table, else by its explicit ``__cause__`` chain, else
        `unknown` (the integration's ``retry.unknown_errors``)."""
        current: BaseException | None = exc
        for _ in range(_MAX_CAUSE_DEPTH):
            if current is None:
                break
            kind = self.kind_of(current)
            if kind is not None:
                return kind
            current = current.__cause__
        return FailureKind(unknown)

    def knows(self, exc: BaseException) -> bool:
        """Whether the table (or an explicit cause) classifies `exc`, without the policy."""
        current: BaseException | None = exc
        for _ in range(_MAX_CAUSE_DEPTH):
            if current is None:
                return False
            if self.kind_of(current) is not None:
                return True
            current = current.__cause__
        return False


DEFAULT_CLASSIFIER = Classifier()


def classify(exc: BaseException, unknown: UnknownPolicy = "transient") -> FailureKind:
    """`Classifier.classify` with the contract's table."""
    return DEFAULT_CLASSIFIER.classify(exc, unknown)
