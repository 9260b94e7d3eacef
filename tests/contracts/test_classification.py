"""The contract's classification table: the runtime and the contract suite use the same one."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from connector.failures.classification import RUNTIME_CLASSIFIER
from contracts.classification import (
    DEFAULT_CLASSIFIER,
    Classifier,
    FailureKind,
    classify,
    http_status_kind,
)

T, P, F = FailureKind.TRANSIENT, FailureKind.PERMANENT, FailureKind.FATAL


def status_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "https://shop.test/x")
    return httpx.HTTPStatusError(
        "s", request=request, response=httpx.Response(status, request=request)
    )


@pytest.mark.parametrize(
    ("status", "kind"),
    [(200, None), (204, None), (408, T), (425, T), (429, T), (503, T), (401, F), (403, F),
     (400, P), (404, P), (410, P), (302, P)],
)  # fmt: skip
def test_http_statuses(status: int, kind: FailureKind | None) -> None:
    assert http_status_kind(status) is kind
    if kind is not None:
        assert classify(status_error(status)) is kind


def test_httpx_errors_are_known_by_name_without_contracts_importing_httpx() -> None:
    assert "httpx.TransportError" in DEFAULT_CLASSIFIER.rules
    for exc in (httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.PoolTimeout("")):
        assert classify(exc) is T
        assert DEFAULT_CLASSIFIER.knows(exc)


def test_httpx_requests_that_can_never_be_sent_are_fatal_as_driverkit_says() -> None:
    # A bad scheme, URL or header value fails every record alike: retrying each one to
    # exhaustion would dead-letter them all (driverkit raises ConfigurationError for these).
    for exc in (
        httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'."),
        httpx.InvalidURL("Invalid port: 'x'"),
        httpx.LocalProtocolError("Illegal header value"),
    ):
        assert classify(exc) is F
    assert classify(httpx.RemoteProtocolError("peer closed connection")) is T


def test_unknown_errors_follow_the_policy_unless_a_cause_is_known() -> None:
    class DriverBugError(Exception):
        pass

    assert classify(DriverBugError()) is T
    assert classify(DriverBugError(), "permanent") is P
    assert not DEFAULT_CLASSIFIER.knows(DriverBugError())
    wrapped = DriverBugError("lookup failed")
    wrapped.__cause__ = KeyError("sku")
    assert classify(wrapped, "transient") is P
    assert DEFAULT_CLASSIFIER.knows(wrapped)
    assert classify(asyncio.CancelledError()) is F


def test_the_runtime_adds_rules_for_its_own_parts_and_extra_rules_win() -> None:
    class BrokerDownError(Exception):
        pass

    extended = Classifier().with_rules({BrokerDownError: T, ValueError: F})
    assert extended.classify(BrokerDownError(), "permanent") is T
    assert extended.classify(ValueError()) is F
    assert classify(ValueError()) is P  # the default table is unchanged
    assert RUNTIME_CLASSIFIER.rules.keys() >= DEFAULT_CLASSIFIER.rules.keys()
