"""Rule-schema values that come from ${ENV_VAR} substitution are text: they still validate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from connector.config import load_and_validate
from connector.driver_registry import DriverRegistry
from contracts import AbstractDriver, ConfigurationSchema, MutationData, RuleConfiguration

UUID = "3f2b8c1e-5d4a-4e2f-9b7c-1a2b3c4d5e6f"


class FlagsDriver(AbstractDriver):
    def get_name(self) -> str:
        return "Flags"

    def get_type(self) -> str:
        return "flags"

    def get_version(self) -> str:
        return "1.0.0"

    def handle(self, mutation: MutationData) -> None:
        return None

    def get_configuration_schema(self) -> ConfigurationSchema:
        return {"dry_run": "required|boolean", "batch": "required|integer", "api-key": "required"}


def test_boolean_and_integer_rules_accept_substituted_text(
    write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_DRY_RUN", "true")
    monkeypatch.setenv("SHOP_BATCH", "50")
    monkeypatch.setenv("SHOP_KEY", "k-0123456789")
    path = write_config(
        f"""
        integrations:
          - uuid: {UUID}
            name: shop
            driver: flags
            config:
              dry_run: "${{SHOP_DRY_RUN}}"
              batch: "${{SHOP_BATCH}}"
              api-key: "${{SHOP_KEY}}"
        """
    )
    _, configs = load_and_validate(path, DriverRegistry.from_classes({"flags": FlagsDriver}))
    config = configs[UUID]
    assert isinstance(config, RuleConfiguration)
    assert config["dry_run"] is True
    assert config["batch"] == 50
    assert config["api-key"].get_secret_value() == "k-0123456789"
