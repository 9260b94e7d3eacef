"""`WebhookConfig`: the `webhook` driver's configuration (an integration's ``config:``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import jsonpointer
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from drivers.webhook.signing import decode_secret

__all__ = ["WebhookConfig"]

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110 token)
_OURS = frozenset(
    {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length"}
)


class WebhookConfig(BaseModel):
    """Where to POST, how to sign, and how to read the answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        description="The receiver's endpoint (http:// or https://); every request is a POST.",
        json_schema_extra={"examples": ["https://hooks.example.com/iec"]},
    )
    secrets: list[SecretStr] = Field(
        min_length=1,
        max_length=5,
        description=(
            "Signing secrets, whsec_<base64 of 24-64 random bytes> (Standard Webhooks). Every "
            "request is signed with each, so a receiver moving to a new secret accepts either: "
            "list the new one next to the old, then drop the old. Give them as ${ENV_VAR}."
        ),
    )
    mode: Literal["per-mutation", "batch"] = Field(
        default="per-mutation",
        description=(
            "per-mutation: one POST per mutation (a JSON object); batch: one POST per batch "
            "(a JSON array of those objects, in order)."
        ),
    )
    timeout_s: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description=(
            "Longest one request may take (Standard Webhooks recommends 15-30 s); must be "
            "below the integration's handle timeout (and is shortened to what remains of it)."
        ),
    )
    max_concurrent_requests: int = Field(
        default=8,
        ge=1,
        le=256,
        description=(
            "Requests in flight at once (per-mutation mode sends different entities of a "
            "batch in parallel; one entity's mutations always one after another, in order)."
        ),
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        description=(
            "Extra request headers, e.g. Authorization. Every value is treated as a secret: "
            "never logged, never quoted in errors."
        ),
    )
    tls_verify: bool = Field(
        default=True,
        description=(
            "Verify the receiver's TLS certificate (https). false: not verified (testing "
            "only); a client certificate is still presented."
        ),
    )
    ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) to trust instead of the system's (a private CA).",
    )
    client_cert_file: Path | None = Field(
        default=None, description="PEM client certificate for mutual TLS (with client_key_file)."
    )
    client_key_file: Path | None = Field(
        default=None, description="PEM private key of client_cert_file (if not in that file)."
    )
    client_key_password: SecretStr | None = Field(
        default=None, description="Password of an encrypted client_key_file."
    )
    external_id_pointer: str | None = Field(
        default=None,
        description=(
            "JSON Pointer (RFC 6901) to the receiver's id for the entity in its JSON answer, "
            'e.g. "/id"; when set, it is stored as the entity\'s mapping (deleted on delete). '
            "In batch mode the answer is a JSON array, one element per mutation in order, and "
            "the pointer is read in each element."
        ),
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    # Secret fields are checked here, not in field validators: the configuration loader
    # replaces a secret field's own validator messages by "is invalid" (they might quote
    # the value), and these messages, which never do, say what to fix.
    @model_validator(mode="after")
    def _secret_fields(self) -> WebhookConfig:
        for index, secret in enumerate(self.secrets):
            try:
                decode_secret(secret.get_secret_value())
            except ValueError as exc:
                raise ValueError(f"secrets[{index}]: {exc}") from None
        for name in self.headers:
            if not _TOKEN.match(name):
                raise ValueError("headers: a name is letters, digits and !#$%&'*+.^_`|~-")
            if name.lower() in _OURS:
                raise ValueError(f"headers: {name} is set by the driver; remove it")
        return self

    @field_validator("external_id_pointer")
    @classmethod
    def _pointer(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                jsonpointer.JsonPointer(value)
            except jsonpointer.JsonPointerException:
                raise ValueError('must be a JSON Pointer such as "/id" or "/data/id"') from None
        return value

    @model_validator(mode="after")
    def _tls_files(self) -> WebhookConfig:
        if self.client_key_file is not None and self.client_cert_file is None:
            raise ValueError("client_key_file needs client_cert_file")
        if self.ca_file is not None and not self.tls_verify:
            raise ValueError(
                "ca_file is not used with tls_verify: false (nothing is verified); remove one"
            )
        for name in ("ca_file", "client_cert_file", "client_key_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: no such file {path}")
        return self

    def keys(self) -> list[bytes]:
        """The HMAC keys of `secrets`, in order."""
        return [decode_secret(s.get_secret_value()) for s in self.secrets]
