"""Magento's error model, parsed and sorted into the contract's error families (pure logic).

A Magento failure body is ``{"message": template, "parameters": [...] | {...}, "errors":
[...]}`` (research notes §2). `MagentoErrorBody.parse` renders the message with its
parameters (``%1`` positional, ``%name`` named) and the nested input errors; `classify`
decides what the runtime does:

=================================================  ==========================================
3xx (a redirect: ``http://`` for ``https://``, …)   fatal: ``base_url`` is not the store's URL
401, 403                                           fatal: the credentials or the ACL are wrong
404 ``Request does not match any route.``          fatal: ``base_url`` or a store code is wrong
404 without Magento's error JSON                   fatal: ``base_url`` does not reach Magento
404 otherwise                                      `NotFoundError` (the caller decides)
429                                                transient, honouring ``Retry-After``
408, 500, 502, 503, 504                            transient
400 deadlock / lock wait / DB connection           transient (``TemporaryState`` exceptions)
other 4xx                                          permanent, with the rendered message
=================================================  ==========================================
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contracts import (
    ConfigurationError,
    FatalError,
    IntegrationError,
    PermanentError,
    RateLimitedError,
    TransientError,
)

__all__ = [
    "ACL_RESOURCES",
    "MagentoErrorBody",
    "NotFoundError",
    "classify",
    "render",
]

NO_ROUTE = "Request does not match any route"
TRANSIENT_400 = (
    "Database deadlock found when trying to get lock",
    "Database lock wait timeout exceeded",
    "Database connection error",
)
_TRANSIENT_STATUS = frozenset({408, 500, 502, 503, 504})
_MAX_MESSAGE = 500
ACL_RESOURCES = (
    "Magento_Catalog::products",
    "Magento_Catalog::categories",
    "Magento_Catalog::attributes_attributes",
    "Magento_Catalog::sets",
    "Magento_Backend::store",
    "Magento_Logging::system_magento_logging_bulk_operations (bulk mode)",
)
"""The API resources the integration needs (Admin > System > Integrations > API)."""


class NotFoundError(PermanentError):
    """Magento answered 404 for an entity (not for a route): the entity does not exist."""


def render(template: str, parameters: Any) -> str:
    """Substitute ``%1``… (a list) or ``%name`` (an object) in a Magento message template."""
    if isinstance(parameters, Mapping):
        # Longest names first, so %fieldName is not eaten by %field.
        for key in sorted(parameters, key=len, reverse=True):
            template = template.replace(f"%{key}", str(parameters[key]))
        return template
    if isinstance(parameters, list):
        return re.sub(
            r"%(\d+)",
            lambda m: (
                str(parameters[int(m.group(1)) - 1])
                if 0 < int(m.group(1)) <= len(parameters)
                else m.group(0)
            ),
            template,
        )
    return template


@dataclass(frozen=True, slots=True)
class MagentoErrorBody:
    """A parsed error body: the rendered message, and the template it came from."""

    message: str
    template: str

    @classmethod
    def parse(cls, body: bytes | str) -> MagentoErrorBody | None:
        """The error of a response body, or None if it is not Magento's error JSON."""
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("message"), str):
            return None
        message = render(data["message"], data.get("parameters"))
        nested = [
            render(str(e.get("message", "")), e.get("parameters"))
            for e in data.get("errors") or ()
            if isinstance(e, dict)
        ]
        if nested:
            message = f"{message} ({'; '.join(nested)})"
        return cls(message[:_MAX_MESSAGE], data["message"])


def classify(
    status: int,
    error: MagentoErrorBody | None,
    *,
    request: str,
    retry_after_s: float | None = None,
    location: str | None = None,
) -> IntegrationError:
    """The contract error for a failed response; `request` is ``METHOD /path`` (no secrets),
    `location` a redirect's target without credentials or query."""
    said = error.message if error else f"HTTP {status}"
    if 300 <= status < 400:
        return ConfigurationError(
            f"Magento's URL redirects ({status} on {request} to {location or 'elsewhere'}): "
            "set base_url to the store's final URL (https, the host it redirects to)."
        )
    if status in (401, 403):
        return FatalError(
            f"Magento refused the integration's credentials ({status} on {request}: {said}). "
            "Check auth and its credentials (consumer_key, consumer_secret, access_token, "
            "access_token_secret for oauth; access_token for bearer, which also needs "
            "'Allow OAuth Access Tokens to be used as standalone Bearer tokens'), and that "
            f"the integration is active with these API resources: {', '.join(ACL_RESOURCES)}."
        )
    if status == 404 and error is not None and error.message.startswith(NO_ROUTE):
        return ConfigurationError(
            f"Magento has no such route ({request}: {said}): check base_url and the store "
            "codes (admin_store_code, locale_stores), and that the URL reaches Magento's /rest."
        )
    if status == 404 and error is None:
        return ConfigurationError(
            f"{request} answered 404 without Magento's error JSON: base_url does not reach "
            "Magento's REST API (check the host and any path prefix before /rest)."
        )
    if status == 404:
        return NotFoundError(f"{request}: {said}")
    if status == 429:
        return RateLimitedError(f"Magento throttled {request}: {said}", retry_after=retry_after_s)
    if status in _TRANSIENT_STATUS:
        return TransientError(f"Magento is unavailable ({status} on {request}): {said}")
    if status == 400 and error is not None and error.message.startswith(TRANSIENT_400):
        return TransientError(f"Magento could not save now ({request}): {said}")
    return PermanentError(f"Magento refused {request} ({status}): {said}")
