"""A webhook driver: each mutation is POSTed as signed JSON; the response's id is the mapping.

The receiver checks ``X-Signature: sha256=<hex HMAC-SHA256 of the body, keyed by the shared
secret>`` and answers ``{"id": "..."}``. Errors come from driverkit's status table: 408, 425,
429, 5xx and network failures are retried (``Retry-After`` honoured), 401/403 stop the
integration, other 4xx dead-letter the record; this hook adds 410 (the endpoint is gone) as
a configuration error, which stops the integration too.
"""

from __future__ import annotations

import hashlib
import hmac

from contracts import (
    ConfigurationError,
    ConfigurationSchema,
    MutationData,
    Operation,
    PermanentError,
)
from driverkit import AsyncHttpDriver


class WebhookDriver(AsyncHttpDriver):
    status_errors = {410: ConfigurationError}

    def get_name(self) -> str:
        return "Webhook (example)"

    def get_type(self) -> str:
        return "webhook-example"

    def get_version(self) -> str:
        return "1.0.0"

    def get_configuration_schema(self) -> ConfigurationSchema:
        return {"url": "required|url", "secret": "required|string|min:16"}

    async def handle(self, mutation: MutationData) -> None:
        body = mutation.model_dump_json().encode()
        key = self.config.secret.get_secret_value().encode()
        signature = hmac.new(key, body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Signature": f"sha256={signature}"}
        response = await self.http.post(self.config.url, content=body, headers=headers)
        entity = (mutation.entity_type, mutation.entity_uuid, self.integration_uuid)
        if mutation.operation is Operation.DELETED:
            await self.async_mapping_service.adelete(*entity)
            return
        answer = self.http.json(response)
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str | int):
            raise self.http.error(PermanentError, response, "the answer carries no id")
        await self.async_mapping_service.acreate(*entity, str(answer["id"]), None)
