"""The driver guide's webhook example: ≤ 50 lines of code, the contract suite and the right
errors, against a real HTTP server."""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from webhook_receiver import CannedAnswer, WebhookReceiver, running_receiver

from contracts import (
    ConfigurationError,
    IntegrationError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from contracts.testing import (
    DriverHarness,
    InMemoryMappingService,
    MutationFactory,
    checks,
    make_mutation,
)
from contracts.testing.checks import Snapshot
from contracts.testing.suite import DriverContractSuite
from docs.examples.webhook_driver import WebhookDriver
from driverkit import AuthenticationError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "webhook_driver.py"
SECRET = "s3cret-hmac-key-0123456789"


def lines_of_code(source: str) -> int:
    """Lines that are not blank, comments or docstrings."""
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return sum(
        1
        for number, line in enumerate(source.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#") and number not in docstrings
    )


def test_the_example_is_at_most_50_lines_of_code_and_is_the_one_in_the_guide() -> None:
    source = EXAMPLE.read_text()
    assert lines_of_code(source) <= 50
    guide = (ROOT / "docs" / "driver-guide.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, re.S)
    assert source in blocks, "docs/driver-guide.md must show docs/examples/webhook_driver.py"


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver(SECRET) as running:
        yield running


@pytest.fixture
def config(receiver: WebhookReceiver) -> dict[str, str]:
    return {"url": receiver.url, "secret": SECRET}


class TestWebhookExample(DriverContractSuite):
    @pytest.fixture
    def driver(self) -> WebhookDriver:
        return WebhookDriver()

    @pytest.fixture
    def driver_config(self, config: dict[str, str]) -> Mapping[str, Any]:
        return config

    @pytest.fixture
    def downstream_snapshot(self, receiver: WebhookReceiver) -> Snapshot:
        return receiver.snapshot


def harness(config: Mapping[str, str]) -> DriverHarness:
    return DriverHarness(WebhookDriver(), config=config, mapping_service=InMemoryMappingService())


def test_a_created_entity_is_signed_posted_and_mapped_to_the_returned_id(
    receiver: WebhookReceiver, config: dict[str, str]
) -> None:
    mutation = make_mutation("product", "created", {"sku": "A-1"})
    with harness(config) as bound:
        bound.handle(mutation)
        mapping = bound.mapping_service.find(
            "product", mutation.entity_uuid, bound.context.integration_uuid
        )
    headers, body = receiver.requests[-1]
    assert headers["content-type"] == "application/json"
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-signature"] == f"sha256={expected}"
    assert json.loads(body)["payload"] == {"sku": "A-1"}
    assert mapping is not None
    assert mapping.external_id == receiver.ids[mutation.entity_uuid]


def raised(
    receiver: WebhookReceiver, config: dict[str, str], *answers: CannedAnswer
) -> BaseException:
    receiver.script(*answers)
    with harness(config) as bound, pytest.raises(IntegrationError) as caught:
        bound.handle(make_mutation("product", "created", {"sku": "x"}))
    return caught.value


def test_a_server_error_is_transient_and_retry_after_is_passed_on(
    receiver: WebhookReceiver, config: dict[str, str]
) -> None:
    error = raised(receiver, config, CannedAnswer(503, {"Retry-After": "7"}, b"maintenance"))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 7.0
    assert "HTTP 503" in str(error)
    assert "maintenance" in str(error)
    assert isinstance(raised(receiver, config, CannedAnswer(500)), TransientError)


def test_a_rejected_record_is_permanent_with_a_bounded_secret_free_excerpt(
    receiver: WebhookReceiver, config: dict[str, str]
) -> None:
    body = json.dumps({"error": f"bad sku; your key was {SECRET}", "trace": "x" * 5000}).encode()
    error = raised(receiver, config, CannedAnswer(422, {}, body))
    assert type(error) is PermanentError
    assert SECRET not in str(error)
    assert "<redacted>" in str(error)
    assert len(str(error)) < 500
    assert "x-signature" not in str(error).lower()


def test_refused_credentials_and_a_gone_endpoint_stop_the_integration(
    receiver: WebhookReceiver, config: dict[str, str]
) -> None:
    assert isinstance(raised(receiver, config, CannedAnswer(401)), AuthenticationError)
    gone = raised(receiver, config, CannedAnswer(410, {}, b"hook deleted"))
    assert isinstance(gone, ConfigurationError)
    assert gone.fatal


def test_an_answer_without_an_id_is_permanent(
    receiver: WebhookReceiver, config: dict[str, str]
) -> None:
    error = raised(receiver, config, CannedAnswer(200, {}, b'{"ok": true}'))
    assert type(error) is PermanentError
    assert "carries no id" in str(error)
    error = raised(receiver, config, CannedAnswer(200, {}, b"<html>"))
    assert "not JSON" in str(error)


def test_a_wrong_secret_is_refused_by_the_receiver_and_stops_the_integration(
    receiver: WebhookReceiver, config: dict[str, str]
) -> None:
    wrong = {**config, "secret": "another-secret-of-16+"}
    with harness(wrong) as bound, pytest.raises(AuthenticationError) as caught:
        bound.handle(make_mutation())
    assert "another-secret" not in str(caught.value)


def test_the_guides_smallest_driver_passes_the_contract_checks() -> None:
    guide = (ROOT / "docs" / "driver-guide.md").read_text()
    [source] = [
        b for b in re.findall(r"```python\n(.*?)```", guide, re.S) if "class ShopDriver" in b
    ]
    namespace: dict[str, Any] = {}
    exec(compile(source, "driver-guide.md", "exec"), namespace)
    driver = namespace["ShopDriver"]()
    config = {"base_url": "https://shop.test", "api_key": "k-123"}
    with DriverHarness(driver, config=config) as bound:
        checks.check_identity(driver)
        checks.check_configuration_schema(driver)
        checks.check_lifecycle(bound, MutationFactory(seed=1), ["product"])
    assert driver.config["api_key"].get_secret_value() == "k-123"
