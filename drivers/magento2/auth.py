"""How requests authenticate: OAuth 1.0a HMAC-SHA256 signatures or a bearer token.

Magento integrations sign every request with OAuth 1.0a (research notes §1): the key is
``consumer_secret&access_token_secret``, query parameters are part of the base string, JSON
bodies are not. `oauthlib` computes the signature (with a fresh nonce and timestamp per
request); `OAuth1Signature` is the `httpx.Auth` that puts it in the ``Authorization`` header.
A bearer token works only on stores that allow integration tokens as bearer tokens.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Literal, get_args

import httpx
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_AUTH_HEADER, Client

from drivers.magento2.config import Magento2Config

__all__ = ["BearerToken", "OAuth1Signature", "request_auth"]


_Method = Literal["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
_METHODS: dict[str, _Method] = {m: m for m in get_args(_Method)}


class OAuth1Signature(httpx.Auth):
    """Signs each request with the integration's four credentials (HMAC-SHA256)."""

    requires_request_body = False

    def __init__(
        self, consumer_key: str, consumer_secret: str, access_token: str, token_secret: str
    ) -> None:
        self._client = Client(
            consumer_key,
            client_secret=consumer_secret,
            resource_owner_key=access_token,
            resource_owner_secret=token_secret,
            signature_method=SIGNATURE_HMAC_SHA256,
            signature_type=SIGNATURE_TYPE_AUTH_HEADER,
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # Only form-encoded bodies enter the base string, so the JSON body is not passed.
        method = _METHODS.get(request.method)
        if method is None:
            raise ValueError(f"cannot sign an HTTP {request.method} request")
        _uri, headers, _body = self._client.sign(str(request.url), method)
        request.headers["Authorization"] = headers["Authorization"]
        yield request


class BearerToken(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


def request_auth(config: Magento2Config) -> httpx.Auth:
    """The `httpx.Auth` the configuration asks for (its validator made sure it is complete)."""

    def secret(name: str) -> str:
        value = getattr(config, name)
        assert value is not None, name
        return str(value.get_secret_value())

    if config.auth == "bearer":
        return BearerToken(secret("access_token"))
    return OAuth1Signature(
        secret("consumer_key"),
        secret("consumer_secret"),
        secret("access_token"),
        secret("access_token_secret"),
    )
