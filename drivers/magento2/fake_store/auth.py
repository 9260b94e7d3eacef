"""`StoreCredentials`: what the fake store accepts, checked the way Magento checks it.

An integration's OAuth 1.0a request signature (HMAC-SHA256 or HMAC-SHA1) is verified with
`oauthlib`'s resource endpoint, so a client that signs wrongly is refused as by a real store;
the integration token as a bearer token is accepted only if `bearer_enabled` (Magento's
``oauth/consumer/enable_integration_as_bearer``, off by default since 2.4.4). Anything else
is a 401 naming the ACL resource, as Magento's message does.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oauthlib.oauth1 import RequestValidator, ResourceEndpoint

__all__ = ["StoreCredentials"]


@dataclass(frozen=True, slots=True)
class StoreCredentials:
    """One active integration: consumer key/secret and access token/secret."""

    consumer_key: str = "fake-consumer-key"
    consumer_secret: str = "fake-consumer-secret"
    access_token: str = "fake-access-token"
    access_token_secret: str = "fake-access-token-secret"
    bearer_enabled: bool = True

    def accepts(self, method: str, url: str, headers: Mapping[str, str]) -> bool:
        """Whether the request's ``Authorization`` header authenticates this integration."""
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if authorization.startswith("Bearer "):
            token = authorization[len("Bearer ") :].strip()
            return self.bearer_enabled and hmac.compare_digest(token, self.access_token)
        if authorization.startswith("OAuth "):
            endpoint = ResourceEndpoint(_Validator(self))
            valid, _request = endpoint.validate_protected_resource_request(
                url, http_method=method, body=None, headers=dict(headers)
            )
            return bool(valid)
        return False


class _Validator(RequestValidator):
    """oauthlib's hooks for one integration; nonces are not tracked (a test store)."""

    enforce_ssl = False
    allowed_signature_methods = ("HMAC-SHA256", "HMAC-SHA1")

    def __init__(self, credentials: StoreCredentials) -> None:
        super().__init__()
        self._c = credentials

    def check_client_key(self, client_key: str) -> bool:
        return bool(client_key)

    def check_access_token(self, request_token: str) -> bool:
        return bool(request_token)

    def check_nonce(self, nonce: str) -> bool:
        return bool(nonce)

    @property
    def dummy_client(self) -> str:
        return "dummy-client"

    @property
    def dummy_access_token(self) -> str:
        return "dummy-token"

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return hmac.compare_digest(client_key, self._c.consumer_key)

    def validate_access_token(self, client_key: str, token: str, request: Any) -> bool:
        return hmac.compare_digest(token, self._c.access_token)

    def validate_timestamp_and_nonce(
        self,
        client_key: str,
        timestamp: str,
        nonce: str,
        request: Any,
        request_token: str | None = None,
        access_token: str | None = None,
    ) -> bool:
        return True

    def validate_realms(
        self, client_key: str, token: str, request: Any, uri: str | None = None, realms: Any = None
    ) -> bool:
        return True

    def get_client_secret(self, client_key: str, request: Any) -> str:
        return self._c.consumer_secret

    def get_access_token_secret(self, client_key: str, token: str, request: Any) -> str:
        return self._c.access_token_secret
