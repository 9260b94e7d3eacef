"""driverkit's clients and drivers: classification hooks, secrets, deadlines, lifecycle."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator, Mapping

import httpx
import pytest
from webhook_receiver import CannedAnswer, WebhookReceiver, running_receiver

from contracts import (
    ConfigurationError,
    ConfigurationSchema,
    IntegrationContext,
    IntegrationError,
    MutationData,
    PermanentError,
    RateLimitedError,
    TransientError,
    deadline_scope,
)
from contracts.testing import DriverHarness, make_mutation
from driverkit import AsyncHttpClient, AsyncHttpDriver, SyncHttpClient, SyncHttpDriver, safe_url

TOKEN = "tok-9f8e7d6c5b4a"


def answering(
    status: int, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    return httpx.MockTransport(handler)


async def call(client: AsyncHttpClient, **kwargs: object) -> httpx.Response:
    async with client:
        return await client.post("/items?api_key=" + TOKEN, **kwargs)


def test_status_overrides_hooks_and_accepted_statuses() -> None:
    def transient_deadlocks(response: httpx.Response) -> IntegrationError | None:
        if response.status_code == 400 and b"Deadlock" in response.content:
            return client.error(TransientError, response)
        return None

    client = AsyncHttpClient(
        base_url="https://shop.test",
        transport=answering(400, b"SQLSTATE[40001]: Deadlock found"),
        classify=transient_deadlocks,
    )
    with pytest.raises(TransientError, match="Deadlock"):
        asyncio.run(call(client))
    other = AsyncHttpClient(base_url="https://shop.test", transport=answering(400, b"bad sku"))
    with pytest.raises(PermanentError, match="bad sku"):
        asyncio.run(call(other))
    gone = AsyncHttpClient(
        base_url="https://shop.test",
        transport=answering(410),
        status_errors={410: ConfigurationError},
    )
    with pytest.raises(ConfigurationError, match="HTTP 410 Gone"):
        asyncio.run(call(gone))
    fine = AsyncHttpClient(
        base_url="https://shop.test", transport=answering(404), status_errors={404: None}
    )
    assert asyncio.run(call(fine)).status_code == 404
    accepted = AsyncHttpClient(base_url="https://shop.test", transport=answering(404))
    assert asyncio.run(call(accepted, accept=(404,))).status_code == 404


def test_messages_never_carry_query_strings_credentials_or_request_headers() -> None:
    echo = f"your token {TOKEN} and password pw-0123456 are wrong".encode()
    client = AsyncHttpClient(
        base_url="https://shop.test",
        headers={"Authorization": f"Bearer {TOKEN}", "X-Trace": "trace-id-1"},
        transport=answering(429, echo, {"Retry-After": "3"}),
        secrets=["pw-0123456"],
    )
    with pytest.raises(RateLimitedError) as caught:
        asyncio.run(call(client))
    message = str(caught.value)
    assert caught.value.retry_after == 3.0
    assert message.startswith(
        "POST https://shop.test/items: HTTP 429 Too Many Requests: your token"
    )
    assert TOKEN not in message
    assert "pw-0123456" not in message
    assert "trace-id-1" not in message
    assert safe_url(httpx.URL("https://user:pw@shop.test:8443/a/b?token=x#f")) == (
        "https://shop.test:8443/a/b"
    )


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver("unused-secret-0123") as running:
        yield running


def test_a_slow_server_times_out_below_the_calls_deadline(receiver: WebhookReceiver) -> None:
    receiver.delay_s = 2.0
    try:
        client = AsyncHttpClient(timeout_s=30)

        async def within_deadline() -> None:
            with deadline_scope(0.6):
                await call_url(client, receiver.url)

        started = time.monotonic()
        with pytest.raises(TransientError, match="no response within"):
            asyncio.run(within_deadline())
        assert time.monotonic() - started < 1.5  # the deadline (0.6 s), not the 2 s answer
    finally:
        receiver.delay_s = 0.0


async def call_url(client: AsyncHttpClient, url: str) -> httpx.Response:
    async with client:
        return await client.post(url, content=b"{}")


def test_no_time_left_means_the_request_is_not_sent(receiver: WebhookReceiver) -> None:
    before = len(receiver.requests)

    async def expired() -> None:
        with deadline_scope(0.0):
            await call_url(AsyncHttpClient(), receiver.url)

    with pytest.raises(TransientError, match="not sent"):
        asyncio.run(expired())
    assert len(receiver.requests) == before


def test_connection_refused_is_transient_and_a_bad_scheme_is_configuration() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientError, match="ConnectError"):
        asyncio.run(call_url(AsyncHttpClient(), f"http://127.0.0.1:{port}/x"))
    with pytest.raises(ConfigurationError, match="unusable URL"):
        asyncio.run(call_url(AsyncHttpClient(), "ftp://example.test/x"))


def test_a_header_that_cannot_be_sent_is_configuration_and_never_quoted(
    receiver: WebhookReceiver,
) -> None:
    # A token read from a file often keeps its trailing newline: the request cannot be built.
    # Retrying would dead-letter every record; quoting httpx's message would show the header.
    headers = {"Authorization": "Bearer tok-123456\r\nX: y"}
    before = len(receiver.requests)
    with pytest.raises(ConfigurationError, match="could not be built") as raised:
        asyncio.run(call_url(AsyncHttpClient(headers=headers), receiver.url))
    assert "tok-123456" not in str(raised.value)
    with (
        SyncHttpClient(base_url=receiver.url, headers=headers) as client,
        pytest.raises(ConfigurationError, match="could not be built") as raised,
    ):
        client.post("", content=b"{}")
    assert "tok-123456" not in str(raised.value)
    assert len(receiver.requests) == before


def test_the_sync_client_classifies_the_same_way(receiver: WebhookReceiver) -> None:
    receiver.script(CannedAnswer(503, {"Retry-After": "2"}), CannedAnswer(422, {}, b"no"))
    with SyncHttpClient(base_url=receiver.url) as client:
        with pytest.raises(RateLimitedError):
            client.post("", content=b"{}")
        with pytest.raises(PermanentError, match="HTTP 422"):
            client.post("", content=b"{}")
    receiver.delay_s = 1.0
    try:
        with (
            SyncHttpClient(base_url=receiver.url) as client,
            deadline_scope(0.3),
            pytest.raises(TransientError, match="no response within"),
        ):
            client.post("", content=b"{}")
    finally:
        receiver.delay_s = 0.0


class Echo(AsyncHttpDriver):
    status_errors = {409: None}

    def get_name(self) -> str:
        return "Echo"

    def get_type(self) -> str:
        return "echo"

    def get_version(self) -> str:
        return "1.0.0"

    def get_configuration_schema(self) -> ConfigurationSchema:
        return {"base_url": "required|url", "api_token": "required|string"}

    def http_base_url(self) -> str:
        return str(self.config.base_url)

    def http_headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.config.api_token.get_secret_value()}"}

    async def handle(self, mutation: MutationData) -> None:
        await self.http.put(f"/{mutation.entity_type}/{mutation.entity_uuid}", json={})


def test_a_transport_is_injected_into_a_driver_built_without_arguments() -> None:
    seen: list[httpx.Request] = []

    def downstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(409 if len(seen) == 1 else 500, text=f"leaked {TOKEN}")

    driver = Echo()
    with pytest.raises(RuntimeError, match="once open"):
        _ = driver.http
    driver.http_transport = httpx.MockTransport(downstream)
    config = {"base_url": "https://shop.test/api", "api_token": TOKEN}
    context = IntegrationContext(integration_uuid="u-1", integration_name="n", handle_timeout_s=5)
    with DriverHarness(driver, config=config, context=context) as harness:
        harness.handle(make_mutation("product", "updated", entity_uuid="p-1"))  # 409: success
        with pytest.raises(TransientError) as caught:
            harness.handle(make_mutation("product", "updated", entity_uuid="p-2"))
    assert TOKEN not in str(caught.value)  # a configuration secret, echoed by the server
    assert [str(r.url) for r in seen] == [
        "https://shop.test/api/product/p-1",
        "https://shop.test/api/product/p-2",
    ]
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    with pytest.raises(RuntimeError, match="once open"):
        _ = driver.http  # closed by the harness


def test_a_sync_http_driver_opens_and_closes_its_client() -> None:
    class SyncEcho(SyncHttpDriver):
        get_name = Echo.get_name
        get_type = Echo.get_type
        get_version = Echo.get_version
        get_configuration_schema = Echo.get_configuration_schema
        http_base_url = Echo.http_base_url

        def handle(self, mutation: MutationData) -> None:
            self.http.delete(f"/{mutation.entity_uuid}", accept=(404,))

    driver = SyncEcho()
    driver.http_transport = httpx.MockTransport(lambda request: httpx.Response(404))
    config = {"base_url": "https://shop.test", "api_token": TOKEN}
    with DriverHarness(driver, config=config) as harness:
        harness.handle(make_mutation("product", "deleted"))
        client = driver.http.client
    assert client.is_closed
