"""Fixtures for configuration tests: a clean environment and test drivers (`write_config` is
in tests/connector/conftest.py)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, field_validator

from connector.driver_registry import DriverRegistry
from contracts import AbstractDriver, ConfigurationSchema, MutationData


class HttpConfig(BaseModel):
    """A driver configuration in the style of a real HTTP driver."""

    model_config = ConfigDict(extra="forbid")

    base_url: HttpUrl
    api_key: SecretStr = Field(min_length=12)
    endpoints: list[HttpUrl] = []

    @field_validator("api_key")
    @classmethod
    def _not_revoked(cls, value: SecretStr) -> SecretStr:
        # A careless driver that echoes the secret: the runtime must redact it.
        if value.get_secret_value().startswith("revoked"):
            raise ValueError(f"key {value.get_secret_value()} is revoked")
        return value


class FakeHttpDriver(AbstractDriver):
    supported_entity_types = ("product", "category")

    def get_name(self) -> str:
        return "Fake HTTP"

    def get_type(self) -> str:
        return "fake-http"

    def get_version(self) -> str:
        return "1.2.3"

    def get_description(self) -> str:
        return "Sends mutations to a fake HTTP API"

    def handle(self, mutation: MutationData) -> None:
        return None

    def get_configuration_schema(self) -> ConfigurationSchema:
        return HttpConfig


class EmptyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FakeLogDriver(AbstractDriver):
    def get_name(self) -> str:
        return "Fake log"

    def get_type(self) -> str:
        return "fake-log"

    def get_version(self) -> str:
        return "0.1.0"

    def handle(self, mutation: MutationData) -> None:
        return None

    def get_configuration_schema(self) -> ConfigurationSchema:
        return EmptyConfig


@pytest.fixture(autouse=True)
def _no_ambient_config_env(no_ambient_config_env: None) -> None:
    """Tests see only the IEC_* variables they set themselves."""


@pytest.fixture
def registry() -> DriverRegistry:
    return DriverRegistry.from_classes({"fake-http": FakeHttpDriver, "fake-log": FakeLogDriver})
