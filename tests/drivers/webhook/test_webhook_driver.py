"""WebhookDriver against a real local HTTP(S) receiver that verifies with `standardwebhooks`."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import trustme
from standard_webhooks_receiver import (
    CannedAnswer,
    StandardWebhooksReceiver,
    new_secret,
    running_receiver,
)

from contracts import (
    ConfigurationError,
    ConfigValidationError,
    IntegrationContext,
    IntegrationError,
    PartialBatchError,
    PermanentError,
    RateLimitedError,
    TransientError,
    validate_configuration,
)
from contracts.testing import DriverHarness, InMemoryMappingService, MutationFactory, make_mutation
from contracts.testing.suite import DriverContractSuite
from drivers.webhook import WebhookConfig, WebhookDriver

SECRET = new_secret()
HEADER_TOKEN = "Bearer hdr-secret-7f3a9c1e"


@pytest.fixture
def receiver() -> Iterator[StandardWebhooksReceiver]:
    with running_receiver(SECRET) as running:
        yield running


class TestWebhookDriverContract(DriverContractSuite):
    @pytest.fixture
    def driver(self) -> WebhookDriver:
        return WebhookDriver()

    @pytest.fixture
    def driver_config(self, receiver: StandardWebhooksReceiver) -> Mapping[str, Any]:
        return {"url": receiver.url, "secrets": [SECRET], "external_id_pointer": "/id"}

    @pytest.fixture
    def downstream_snapshot(
        self, receiver: StandardWebhooksReceiver, mapping_service: InMemoryMappingService
    ) -> Callable[[], object]:
        return lambda: (receiver.snapshot(), mapping_service.snapshot())


def bind(
    config: Mapping[str, Any],
    service: InMemoryMappingService | None = None,
    handle_timeout_s: float = 30.0,
) -> DriverHarness:
    context = IntegrationContext(
        "00000000-0000-4000-8000-0000000000a1", "webhook-test", handle_timeout_s=handle_timeout_s
    )
    return DriverHarness(
        WebhookDriver(), config=config, mapping_service=service or InMemoryMappingService(),
        context=context,
    )  # fmt: skip


@pytest.fixture
def factory() -> MutationFactory:
    return MutationFactory(seed=21)


# -- signatures, ids, modes ------------------------------------------------------------------


def test_every_request_verifies_with_the_reference_library_and_carries_the_mutation(
    receiver: StandardWebhooksReceiver, factory: MutationFactory
) -> None:
    batch = factory.mixed_batch("product")
    with bind({"url": receiver.url, "secrets": [SECRET]}) as harness:
        harness.handle_batch(batch)

    assert len(receiver.deliveries) == len(batch)
    assert all(d.verified for d in receiver.deliveries)
    by_id = {m["id"]: m for m in receiver.verified_messages()}
    for mutation in batch:
        message = by_id[f"msg_{mutation.event_id}"]
        assert message["type"] == f"product.{mutation.operation.value}"
        assert message["data"]["payload"] == dict(mutation.payload)
        assert message["data"]["version"] == mutation.version
    headers = receiver.deliveries[0].headers
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == receiver.deliveries[0].message["id"]


def test_during_a_rotation_receivers_with_the_old_or_the_new_secret_both_verify(
    factory: MutationFactory,
) -> None:
    old, new = new_secret(), new_secret()
    with running_receiver(old) as on_old, running_receiver(new) as on_new:
        for target in (on_old, on_new):
            with bind({"url": target.url, "secrets": [new, old]}) as harness:
                harness.handle_batch([factory.mutation("category", "created", version=1)])
        assert [d.verified for d in on_old.deliveries] == [True]
        assert [d.verified for d in on_new.deliveries] == [True]
        signature = on_new.deliveries[0].headers["webhook-signature"]
        assert len(signature.split(" ")) == 2
        assert all(part.startswith("v1,") for part in signature.split(" "))


def test_a_replay_carries_the_same_message_ids_even_without_event_ids(
    receiver: StandardWebhooksReceiver, factory: MutationFactory
) -> None:
    batch = [factory.mutation("family", "created", {"code": f"f{i}"}, version=1) for i in range(3)]
    without_ids = [m.model_copy(update={"event_id": None}) for m in batch]
    with bind({"url": receiver.url, "secrets": [SECRET]}) as harness:
        harness.handle_batch(batch + without_ids)
        harness.handle_batch(batch + without_ids)  # the replay

    ids = [d.headers["webhook-id"] for d in receiver.deliveries]
    first, second = ids[:6], ids[6:]
    assert sorted(first) == sorted(second)
    assert len(set(first)) == 6
    assert {f"msg_{m.event_id}" for m in batch} < set(first)


def test_an_event_id_unfit_for_a_header_gets_a_stable_digest_id(
    receiver: StandardWebhooksReceiver, factory: MutationFactory
) -> None:
    odd = ["événement", "evt\nnewline", "evt.with.dots", "x" * 300]
    batch = [
        factory.mutation("product", "created", version=1).model_copy(update={"event_id": e})
        for e in [*odd, "evt_ok-1"]
    ]
    with bind({"url": receiver.url, "secrets": [SECRET]}) as harness:
        harness.handle_batch(batch)
        harness.handle_batch(batch)  # the replay

    assert all(d.verified for d in receiver.deliveries)
    ids = [d.headers["webhook-id"] for d in receiver.deliveries]
    first, second = ids[:5], ids[5:]
    assert sorted(first) == sorted(second)
    assert len(set(first)) == 5
    assert "msg_evt_ok-1" in first
    # the specification's id: no "." (it separates id, timestamp and body when signing)
    assert all(re.fullmatch(r"msg_[A-Za-z0-9_-]{1,200}", i) for i in ids)
    assert {m["id"] for m in receiver.verified_messages()} == set(first)


def test_the_event_type_has_one_dot_between_entity_type_and_operation(
    receiver: StandardWebhooksReceiver,
) -> None:
    mutation = make_mutation("custom-type.v2", "created", {"code": "x"})
    with bind({"url": receiver.url, "secrets": [SECRET]}) as harness:
        harness.handle_batch([mutation])
    (message,) = receiver.verified_messages()
    # Standard Webhooks: "."-separated segments of [a-zA-Z0-9_]; the real name is in data
    assert message["type"] == "custom_type_v2.created"
    assert message["data"]["entity_type"] == "custom-type.v2"


def test_the_default_timeout_is_within_the_specifications_recommendation() -> None:
    config = validate_configuration(WebhookConfig, {"url": "https://h/x", "secrets": [SECRET]})
    assert isinstance(config, WebhookConfig)
    assert 15 <= config.timeout_s <= 30


def test_batch_mode_sends_one_signed_array_per_batch_and_maps_each_element(
    receiver: StandardWebhooksReceiver, factory: MutationFactory
) -> None:
    service = InMemoryMappingService()
    batch = factory.mixed_batch("attribute")
    config = {
        "url": receiver.url,
        "secrets": [SECRET],
        "mode": "batch",
        "external_id_pointer": "/id",
    }
    with bind(config, service) as harness:
        harness.handle_batch(batch)
        harness.handle_batch(batch)

    assert len(receiver.deliveries) == 2
    assert all(d.verified for d in receiver.deliveries)
    first, again = (d.message for d in receiver.deliveries)
    assert [m["id"] for m in first] == [f"msg_{m.event_id}" for m in batch]
    assert (
        receiver.deliveries[0].headers["webhook-id"] == receiver.deliveries[1].headers["webhook-id"]
    )
    assert first == again
    live = {m.entity_uuid for m in batch} - {m.entity_uuid for m in batch if m.is_deletion}
    mapped = {key.entity_uuid: data.external_id for key, data in service.snapshot().items()}
    assert set(mapped) == live
    assert mapped == {uuid: receiver.ids[uuid] for uuid in live}


def test_the_external_id_becomes_the_mapping_and_a_delete_removes_it(
    receiver: StandardWebhooksReceiver, factory: MutationFactory
) -> None:
    service = InMemoryMappingService()
    created, updated, deleted = factory.lifecycle("product")
    config = {"url": receiver.url, "secrets": [SECRET], "external_id_pointer": "/id"}
    with bind(config, service) as harness:
        harness.handle_batch([created, updated])
        integration = harness.context.integration_uuid
        mapping = service.find("product", created.entity_uuid, integration)
        assert mapping is not None
        assert mapping.external_id == receiver.ids[created.entity_uuid]
        harness.handle_batch([deleted])
        assert service.find("product", created.entity_uuid, integration) is None


# -- order and concurrency --------------------------------------------------------------------


def test_order_per_entity_is_kept_while_entities_go_in_parallel(
    receiver: StandardWebhooksReceiver, factory: MutationFactory
) -> None:
    receiver.jitter_s = 0.02
    uuids = [factory.uuid() for _ in range(8)]
    batch = [
        factory.mutation("product", "updated", {"n": v}, entity_uuid=u, version=v)
        for v in range(1, 6)
        for u in uuids
    ]
    config = {"url": receiver.url, "secrets": [SECRET], "max_concurrent_requests": 4}
    with bind(config) as harness:
        harness.handle_batch(batch)

    seen: dict[str, list[int]] = {}
    for message in receiver.verified_messages():
        seen.setdefault(message["data"]["entity_uuid"], []).append(message["data"]["version"])
    assert seen == {u: [1, 2, 3, 4, 5] for u in uuids}
    assert 1 < receiver.max_in_flight <= 4


class _BrokenStore(InMemoryMappingService):
    """A mapping store that fails for one entity with an error that is no IntegrationError."""

    def __init__(self, broken: str) -> None:
        super().__init__()
        self.broken = broken

    async def acreate(self, entity_type: str, entity_uuid: str, *args: Any, **kw: Any) -> Any:
        if entity_uuid == self.broken:
            raise RuntimeError("mapping store unavailable")
        return await super().acreate(entity_type, entity_uuid, *args, **kw)


async def test_an_unexpected_error_in_one_entity_leaves_no_request_running_after_the_call(
    receiver: StandardWebhooksReceiver, factory: MutationFactory
) -> None:
    receiver.delay_s = 0.15
    a, b = factory.uuid(), factory.uuid()
    batch = [factory.mutation("product", "created", entity_uuid=a, version=1)] + [
        factory.mutation("product", "updated", entity_uuid=b, version=v) for v in (1, 2, 3)
    ]
    config = {"url": receiver.url, "secrets": [SECRET], "external_id_pointer": "/id"}
    harness = bind(config, _BrokenStore(a))
    harness.bind()
    driver = harness.driver
    assert isinstance(driver, WebhookDriver)
    await driver.open()
    try:
        with pytest.raises(PartialBatchError) as caught:
            await driver.handle_batch(batch)
        at_return = len(receiver.deliveries)
        await asyncio.sleep(0.6)
    finally:
        await driver.close()
    # Every lane ran to its end before the call returned; only the broken one is listed.
    assert at_return == len(receiver.deliveries) == 4
    assert list(caught.value.failures) == [0]
    assert isinstance(caught.value.failures[0], RuntimeError)


# -- every status class -----------------------------------------------------------------------


def _fail_once(
    receiver: StandardWebhooksReceiver, answer: CannedAnswer, factory: MutationFactory,
    handle_timeout_s: float = 30.0, **config: Any,
) -> BaseException:  # fmt: skip
    receiver.script(answer)
    full = {"url": receiver.url, "secrets": [SECRET], "headers": {"Authorization": HEADER_TOKEN}}
    with bind(full | config, handle_timeout_s=handle_timeout_s) as harness:
        mutation = factory.mutation("product", "created", version=1)
        with pytest.raises(IntegrationError) as caught:
            harness.handle_batch([mutation])
    error: BaseException = caught.value
    if isinstance(error, PartialBatchError):
        (error,) = error.failures.values()
    return error


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_done(
    receiver: StandardWebhooksReceiver, factory: MutationFactory, status: int
) -> None:
    receiver.script(CannedAnswer(status))
    with bind({"url": receiver.url, "secrets": [SECRET]}) as harness:
        harness.handle_batch([factory.mutation("product", "created", version=1)])
    assert len(receiver.deliveries) == 1


@pytest.mark.parametrize("status", [408, 425, 500, 502, 503])
def test_408_425_and_5xx_are_transient(
    receiver: StandardWebhooksReceiver, factory: MutationFactory, status: int
) -> None:
    error = _fail_once(receiver, CannedAnswer(status, body=b"busy"), factory)
    assert isinstance(error, TransientError)
    assert f"HTTP {status}" in str(error)


def test_429_honours_retry_after(
    receiver: StandardWebhooksReceiver, factory: MutationFactory
) -> None:
    error = _fail_once(receiver, CannedAnswer(429, {"Retry-After": "7"}), factory)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 7


def test_a_503_with_retry_after_is_honoured(
    receiver: StandardWebhooksReceiver, factory: MutationFactory
) -> None:
    error = _fail_once(receiver, CannedAnswer(503, {"Retry-After": "4"}), factory)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 4


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_dead_letters_the_record(
    receiver: StandardWebhooksReceiver, factory: MutationFactory, status: int
) -> None:
    answer = CannedAnswer(status, {"Location": "https://elsewhere.example/hook"})
    error = _fail_once(receiver, answer, factory)
    assert isinstance(error, PermanentError)
    assert not isinstance(error, ConfigurationError)
    assert f"HTTP {status}" in str(error)
    assert len(receiver.deliveries) == 1


@pytest.mark.parametrize(
    ("status", "kind"), [(503, TransientError), (422, PermanentError), (410, ConfigurationError)]
)
def test_in_batch_mode_a_failed_post_fails_the_whole_batch(
    receiver: StandardWebhooksReceiver,
    factory: MutationFactory,
    status: int,
    kind: type[IntegrationError],
) -> None:
    receiver.script(CannedAnswer(status, body=b"no"))
    batch = factory.mixed_batch("product")
    harness = bind({"url": receiver.url, "secrets": [SECRET], "mode": "batch"})
    with harness, pytest.raises(IntegrationError) as caught:
        harness.handle_batch(batch)
    # one request, all or nothing: the runtime retries, bisects or stops on the whole batch
    assert type(caught.value) is kind
    assert not isinstance(caught.value, PartialBatchError)
    assert len(receiver.deliveries) == 1


def test_410_stops_the_integration(
    receiver: StandardWebhooksReceiver, factory: MutationFactory
) -> None:
    error = _fail_once(receiver, CannedAnswer(410, body=b"endpoint retired"), factory)
    assert isinstance(error, ConfigurationError)
    assert error.fatal
    assert "410" in str(error)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_4xx_are_permanent_with_status_and_a_bounded_secret_free_excerpt(
    receiver: StandardWebhooksReceiver, factory: MutationFactory, status: int
) -> None:
    # A receiver that echoes what it got, secrets included, and then some.
    echo = f"rejected; you sent {HEADER_TOKEN} and {SECRET} " + "x" * 5000
    error = _fail_once(receiver, CannedAnswer(status, body=echo.encode()), factory)
    assert isinstance(error, PermanentError)
    assert not isinstance(error, ConfigurationError)
    text = str(error)
    assert f"HTTP {status}" in text
    assert "rejected; you sent" in text
    assert len(text) < 700
    assert SECRET not in text
    assert "hdr-secret-7f3a9c1e" not in text


def test_a_timeout_is_transient_and_below_the_handle_timeout(
    receiver: StandardWebhooksReceiver, factory: MutationFactory
) -> None:
    receiver.delay_s = 2.0
    error = _fail_once(receiver, CannedAnswer(200), factory, timeout_s=0.3)
    assert isinstance(error, TransientError)
    assert "no response within" in str(error)


def test_a_refused_connection_is_transient(factory: MutationFactory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = {"url": f"http://127.0.0.1:{port}/hook", "secrets": [SECRET]}
    with bind(config) as harness, pytest.raises(PartialBatchError) as caught:
        harness.handle_batch([factory.mutation("product", "created", version=1)])
    assert all(isinstance(e, TransientError) for e in caught.value.failures.values())


def test_a_failure_holds_back_the_rest_of_that_entity_only(
    receiver: StandardWebhooksReceiver, factory: MutationFactory
) -> None:
    a, b = factory.uuid(), factory.uuid()
    batch = [
        factory.mutation("product", "created", entity_uuid=a, version=1),
        factory.mutation("product", "updated", entity_uuid=a, version=2),
        factory.mutation("product", "created", entity_uuid=b, version=1),
    ]
    receiver.script(CannedAnswer(503))  # the first request to arrive
    config = {"url": receiver.url, "secrets": [SECRET], "max_concurrent_requests": 1}
    with bind(config) as harness, pytest.raises(PartialBatchError) as caught:
        harness.handle_batch(batch)
    assert set(caught.value.failures) == {0, 1}
    assert caught.value.retriable
    assert [m["data"]["entity_uuid"] for m in receiver.verified_messages()] == [a, b]


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def test_https_with_a_private_ca_and_a_client_certificate(
    ca: trustme.CA, tmp_path: Path, factory: MutationFactory
) -> None:
    ca_file, client_file = tmp_path / "ca.pem", tmp_path / "client.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    client = ca.issue_cert("iec-connector")
    client.private_key_and_cert_chain_pem.write_to_path(str(client_file))
    with running_receiver(SECRET, tls=ca, require_client_cert=True) as secure:
        config = {"url": secure.url, "secrets": [SECRET], "ca_file": str(ca_file)}
        with bind(config | {"client_cert_file": str(client_file)}) as harness:
            harness.handle_batch([factory.mutation("product", "created", version=1)])
        assert [d.verified for d in secure.deliveries] == [True]
        # without the private CA the receiver's certificate is not trusted
        untrusting = bind({"url": secure.url, "secrets": [SECRET]})
        with untrusting as harness, pytest.raises(PartialBatchError) as caught:
            harness.handle_batch([factory.mutation("product", "created", version=1)])
        assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value.failures[0])
        assert len(secure.deliveries) == 1


def test_without_verification_the_client_certificate_is_still_presented(
    ca: trustme.CA, tmp_path: Path, factory: MutationFactory
) -> None:
    client_file = tmp_path / "client.pem"
    ca.issue_cert("iec-connector").private_key_and_cert_chain_pem.write_to_path(str(client_file))
    with running_receiver(SECRET, tls=ca, require_client_cert=True) as secure:
        config = {"url": secure.url, "secrets": [SECRET], "tls_verify": False}
        with bind(config | {"client_cert_file": str(client_file)}) as harness:
            harness.handle_batch([factory.mutation("product", "created", version=1)])
        assert [d.verified for d in secure.deliveries] == [True]


def test_a_ca_file_without_verification_is_refused(ca: trustme.CA, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    config = {"url": "https://h/x", "secrets": [SECRET], "tls_verify": False, "ca_file": ca_file}
    with pytest.raises(ConfigValidationError, match="ca_file is not used with tls_verify: false"):
        validate_configuration(WebhookConfig, config)


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"url": "https://h/x", "secrets": ["not-whsec"]}, "whsec_"),
        ({"url": "https://h/x", "secrets": ["whsec_c2hvcnQ="]}, "24 to 64 bytes"),
        ({"url": "https://h/x", "secrets": []}, "at least 1"),
        ({"url": "ftp://h/x", "secrets": [SECRET]}, "http:// or https://"),
        ({"url": "https://h/x", "secrets": [SECRET], "external_id_pointer": "id"}, "JSON Pointer"),
        ({"url": "https://h/x", "secrets": [SECRET], "headers": {"webhook-id": "x"}}, "set by"),
        ({"url": "https://h/x", "secrets": [SECRET], "mode": "bulk"}, "per-mutation"),
    ],
)
def test_a_bad_configuration_says_what_to_fix_without_values(
    config: dict[str, Any], words: str
) -> None:
    with pytest.raises(ConfigValidationError) as caught:
        validate_configuration(WebhookConfig, config)
    assert words in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_timeout_not_below_the_handle_timeout_is_refused(
    receiver: StandardWebhooksReceiver,
) -> None:
    harness = bind({"url": receiver.url, "secrets": [SECRET], "timeout_s": 30}, handle_timeout_s=30)
    with pytest.raises(ConfigurationError, match="below the integration's handle timeout"):
        harness.open()
    harness.close()


def test_is_registered_as_the_webhook_entry_point() -> None:
    (entry,) = [e for e in entry_points(group="iec.drivers") if e.name == "webhook"]
    assert entry.load() is WebhookDriver
