"""`WebhookDriver`: every mutation POSTed as a signed Standard Webhooks message.

A message (``Content-Type: application/json``)::

    {"id": "msg_<event id>", "type": "<entity type>.<operation>", "timestamp": "<occurred_at>",
     "data": {"entity_type": ..., "entity_uuid": ..., "operation": ..., "payload": {...},
              "changed_fields": [...], "event_id": ..., "occurred_at": ..., "version": ...}}

In ``batch`` mode the body is a JSON array of such messages, in the batch's order, and the
request's ``webhook-id`` is derived from theirs (the same only for the same batch: a split or
regrouped batch gets another). Every delivery of a mutation carries the same message id
(see `drivers.webhook.signing`), so a receiver de-duplicates retries and replays by it.

`handle_batch` protocol (per-mutation mode):

1. Split the batch into lanes, one per entity, keeping the batch's order within each.
2. Run the lanes concurrently (at most ``max_concurrent_requests`` requests in flight); a
   lane sends its mutations one after another, each signed when it is sent.
3. Classify each answer through driverkit's table, with this driver's rows: 2xx done;
   408, 425, 429 (``Retry-After`` honoured), 5xx, timeouts and connection errors transient;
   410 fatal (the endpoint is gone: the integration stops); any other 4xx permanent, with
   the status and a bounded excerpt of the body (secrets replaced) for the dead letter; so
   is a 3xx (redirects are not followed).
4. After a success, with ``external_id_pointer``, store the id the receiver answered as the
   entity's mapping (a deletion removes the mapping).
5. When a mutation fails (with any error: a contract error, or e.g. the mapping store's),
   the rest of its lane is not sent (order per entity) and reported transient; the other
   lanes go on. Once every lane has ended, a fatal error is raised as it is; otherwise
   `PartialBatchError` lists the failed ones (an error that is not a contract error as it
   is, for the runtime to classify) and the runtime retries or dead-letters only those.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx
import jsonpointer
import orjson

from contracts import (
    ConfigurationError,
    ConfigurationSchema,
    MutationData,
    NewMapping,
    Operation,
    PartialBatchError,
    PermanentError,
    TransientError,
)
from driverkit import AsyncHttpDriver, StatusErrors
from drivers.webhook.config import WebhookConfig
from drivers.webhook.signing import batch_id, message_id, signed_headers

__all__ = ["WebhookDriver"]

_USER_AGENT = "iec-connector-webhook/1.0"
_NOT_IN_SEGMENT = re.compile(r"[^A-Za-z0-9_]")


def _segment(entity_type: str) -> str:
    """`entity_type` as one segment of an event type (Standard Webhooks: ``[a-zA-Z0-9_]``,
    ``.`` between segments); ``data.entity_type`` keeps the real name."""
    return _NOT_IN_SEGMENT.sub("_", entity_type)


class WebhookDriver(AsyncHttpDriver):
    """POSTs mutations to one endpoint, signed by the Standard Webhooks specification."""

    status_errors: ClassVar[StatusErrors] = {
        410: ConfigurationError,  # gone: stop the integration until an operator re-points it
        401: PermanentError,  # the table: every 4xx but 410 dead-letters the record
        403: PermanentError,
    }
    http_timeout_s: ClassVar[float] = 300.0
    """The client's ceiling; each request passes the configured `timeout_s`."""

    def __init__(self) -> None:
        super().__init__()
        self._keys: list[bytes] = []
        self._slots: asyncio.Semaphore | None = None

    # -- identity ---------------------------------------------------------------------------
    def get_name(self) -> str:
        return "Webhook (Standard Webhooks)"

    def get_type(self) -> str:
        return "webhook"

    def get_version(self) -> str:
        return "1.0.0"

    def get_description(self) -> str:
        return (
            "POSTs each mutation (or each batch) as JSON signed by the Standard Webhooks "
            "specification; the receiver's id may become the mapping."
        )

    def get_configuration_schema(self) -> ConfigurationSchema:
        return WebhookConfig

    @property
    def settings(self) -> WebhookConfig:
        if not isinstance(self.config, WebhookConfig):
            raise ConfigurationError("the webhook driver was bound without a WebhookConfig")
        return self.config

    # -- the HTTP client (driverkit hooks) --------------------------------------------------
    def http_headers(self) -> Mapping[str, str]:
        extra = {name: v.get_secret_value() for name, v in self.settings.headers.items()}
        return {"User-Agent": _USER_AGENT, **extra}

    def http_options(self) -> Mapping[str, Any]:
        settings = self.settings
        connections = settings.max_concurrent_requests
        return {
            "verify": self._tls(),
            "limits": httpx.Limits(
                max_connections=connections, max_keepalive_connections=connections
            ),
        }

    def _tls(self) -> ssl.SSLContext:
        settings = self.settings
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
        if not settings.tls_verify:
            # Not verifying the receiver is no reason to withhold our certificate (mTLS).
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if settings.client_cert_file is not None:
            password = settings.client_key_password
            context.load_cert_chain(
                settings.client_cert_file,
                settings.client_key_file,
                password.get_secret_value() if password else None,
            )
        return context

    async def open(self) -> None:
        settings = self.settings
        handle_timeout_s = self.context.handle_timeout_s
        if settings.timeout_s >= handle_timeout_s:
            raise ConfigurationError(
                f"timeout_s ({settings.timeout_s:g} s) must be below the integration's handle "
                f"timeout ({handle_timeout_s:g} s): lower timeout_s or raise handle_timeout_ms"
            )
        self._keys = settings.keys()
        self._slots = asyncio.Semaphore(settings.max_concurrent_requests)
        try:
            await super().open()
        except (OSError, ssl.SSLError) as exc:  # unreadable CA or client certificate files
            raise ConfigurationError(f"TLS files could not be loaded: {exc}") from None

    # -- processing -------------------------------------------------------------------------
    async def handle(self, mutation: MutationData) -> None:
        await self.handle_batch([mutation])

    async def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        if not mutations:
            return
        if self.settings.mode == "batch":
            await self._deliver_batch(mutations)
            return
        # 1. lanes
        lanes: dict[str, list[int]] = {}
        for index, mutation in enumerate(mutations):
            lanes.setdefault(mutation.entity_uuid, []).append(index)
        failures: dict[int, BaseException] = {}

        async def run_lane(indexes: list[int]) -> None:
            for position, index in enumerate(indexes):
                try:
                    await self._deliver(mutations[index])  # 2.-4.
                except Exception as exc:  # any error: gather must not leave other lanes running
                    # 5. the rest of this entity waits for the failed one
                    failures[index] = exc
                    for later in indexes[position + 1 :]:
                        failures[later] = TransientError(
                            f"not sent: an earlier mutation of {mutations[later].entity_uuid} "
                            f"in this batch failed ({type(exc).__name__}); order is kept"
                        )
                    return

        await asyncio.gather(*(run_lane(indexes) for indexes in lanes.values()))
        # 5. report
        fatal = next((e for e in failures.values() if getattr(e, "fatal", False)), None)
        if fatal is not None:
            raise fatal
        if failures:
            raise PartialBatchError(failures)

    def _envelope(self, mutation: MutationData) -> dict[str, Any]:
        occurred = mutation.occurred_at or self.context.now()
        return {
            "id": message_id(mutation),
            "type": f"{_segment(mutation.entity_type)}.{mutation.operation.value}",
            "timestamp": occurred.isoformat(),
            "data": mutation.model_dump(mode="json"),
        }

    async def _post(self, msg_id: str, body: bytes) -> httpx.Response:
        """2.-3. One signed POST; returns a 2xx response or raises the contract error."""
        assert self._slots is not None, "open() was not called"
        async with self._slots:
            # Signed when sent: receivers refuse timestamps older than a few minutes.
            headers = {
                "Content-Type": "application/json",
                **signed_headers(self._keys, msg_id, int(time.time()), body),
            }
            return await self.http.post(
                self.settings.url, content=body, headers=headers, timeout_s=self.settings.timeout_s
            )

    async def _deliver(self, mutation: MutationData) -> None:
        envelope = self._envelope(mutation)
        response = await self._post(envelope["id"], orjson.dumps(envelope))
        pointer = self.settings.external_id_pointer
        if pointer is None:
            return
        # 4. the mapping
        service = self.async_mapping_service
        key = (mutation.entity_type, mutation.entity_uuid, self.integration_uuid)
        if mutation.operation is Operation.DELETED:
            await service.adelete(*key)
            return
        external_id = self._external_id(response, self.http.json(response), pointer)
        current = await service.afind(*key)
        if current is None or current.external_id != external_id:
            await service.acreate(*key, external_id, None)

    def _external_id(self, response: httpx.Response, document: Any, pointer: str) -> str:
        try:
            value = jsonpointer.resolve_pointer(document, pointer)
        except jsonpointer.JsonPointerException:
            value = None
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            raise self.http.error(
                PermanentError,
                response,
                f"delivered, but the answer has no id at {pointer} (external_id_pointer): "
                f"{self.http.excerpt(response)}",
            )
        return str(value)

    async def _deliver_batch(self, mutations: Sequence[MutationData]) -> None:
        """Batch mode: one POST, all or nothing (the runtime bisects a failed batch)."""
        envelopes = [self._envelope(m) for m in mutations]
        response = await self._post(batch_id([e["id"] for e in envelopes]), orjson.dumps(envelopes))
        pointer = self.settings.external_id_pointer
        if pointer is None:
            return
        answer = self.http.json(response)
        if not isinstance(answer, list) or len(answer) != len(mutations):
            raise self.http.error(
                PermanentError,
                response,
                f"delivered, but the answer is not a JSON array of {len(mutations)} elements "
                f"(external_id_pointer in batch mode): {self.http.excerpt(response)}",
            )
        # The last mutation of each entity decides its mapping.
        last: dict[str, tuple[MutationData, Any]] = {}
        for mutation, element in zip(mutations, answer, strict=True):
            last[mutation.entity_uuid] = (mutation, element)
        service = self.async_mapping_service
        integration = self.integration_uuid
        creates: list[NewMapping] = []
        deletes: dict[str, list[str]] = {}
        for mutation, element in last.values():
            if mutation.operation is Operation.DELETED:
                deletes.setdefault(mutation.entity_type, []).append(mutation.entity_uuid)
                continue
            external_id = self._external_id(response, element, pointer)
            current = await service.afind(mutation.entity_type, mutation.entity_uuid, integration)
            if current is None or current.external_id != external_id:
                creates.append(NewMapping(mutation.entity_type, mutation.entity_uuid, external_id))
        if creates:
            await service.acreate_many(creates, integration)
        for entity_type, uuids in deletes.items():
            await service.adelete_many(entity_type, uuids, integration)
