"""Integrations checked against the installed drivers: type, driver config, entity types."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import BaseModel

from connector.config import load_and_validate, load_settings, validate_integrations
from connector.driver_registry import DriverRegistry
from contracts import ConfigValidationError

WriteConfig = Callable[[str], Path]

UUID_A = "3f2b8c1e-5d4a-4e2f-9b7c-1a2b3c4d5e6f"
UUID_B = "8a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def test_valid_file_gives_each_enabled_integration_its_validated_config(
    write_config: WriteConfig, registry: DriverRegistry
) -> None:
    path = write_config(
        f"""
        integrations:
          - uuid: {UUID_A}
            name: Shop
            driver: fake-http
            config: {{base_url: "https://shop.example/api", api_key: long-enough-key}}
            entity_types: [product]
          - uuid: {UUID_B}
            name: "Off"
            driver: no-such-driver
            enabled: false
        """
    )

    settings, configs = load_and_validate(path, registry)

    assert list(configs) == [UUID_A]
    config = configs[UUID_A]
    assert isinstance(config, BaseModel)
    assert str(config.model_dump()["base_url"]) == "https://shop.example/api"
    assert [i.uuid for i in settings.enabled_integrations()] == [UUID_A]


def test_unknown_driver_lists_the_known_types(
    write_config: WriteConfig, registry: DriverRegistry
) -> None:
    path = write_config(f"integrations:\n  - {{uuid: {UUID_A}, name: S, driver: magento}}\n")

    (problem,) = validate_integrations(load_settings(path), registry)

    assert problem.path == "integrations[0].driver"
    assert problem.rule == "known_driver"
    assert "'magento'" in problem.message
    assert "fake-http, fake-log" in problem.message


def test_driver_config_problems_are_prefixed_with_the_integration_path(
    write_config: WriteConfig, registry: DriverRegistry
) -> None:
    path = write_config(
        f"""
        integrations:
          - uuid: {UUID_A}
            name: Good
            driver: fake-log
          - uuid: {UUID_B}
            name: Shop
            driver: fake-http
            config:
              base_url: not a url
              endpoints: ["https://ok.example", "nope"]
              colour: blue
        """
    )

    problems = {p.path: p for p in validate_integrations(load_settings(path), registry)}

    assert set(problems) == {
        "integrations[1].config.base_url",
        "integrations[1].config.api_key",
        "integrations[1].config.endpoints[1]",
        "integrations[1].config.colour",
    }
    assert problems["integrations[1].config.base_url"].rule == "url_parsing"
    assert problems["integrations[1].config.api_key"].rule == "required"
    assert str(problems["integrations[1].config.base_url"]).startswith(
        "integrations[1].config.base_url: "
    )
    assert str(problems["integrations[1].config.base_url"]).endswith("(rule: url_parsing)")


def test_entity_types_must_be_supported_by_the_driver(
    write_config: WriteConfig, registry: DriverRegistry
) -> None:
    path = write_config(
        f"""
        integrations:
          - uuid: {UUID_A}
            name: Shop
            driver: fake-http
            config: {{base_url: "https://shop.example", api_key: long-enough-key}}
            entity_types: [product, family]
        """
    )

    (problem,) = validate_integrations(load_settings(path), registry)

    assert problem.path == "integrations[0].entity_types[1]"
    assert problem.rule == "supported_entity_type"
    assert "product, category" in problem.message


def test_driver_secret_failing_a_rule_is_never_echoed(
    write_config: WriteConfig, registry: DriverRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_KEY_FOR_TEST", "revoked-0123456789abcdef")
    path = write_config(
        f"""
        integrations:
          - uuid: {UUID_A}
            name: Shop
            driver: fake-http
            config: {{base_url: "https://shop.example", api_key: "${{SHOP_KEY_FOR_TEST}}"}}
          - uuid: {UUID_B}
            name: Short
            driver: fake-http
            config: {{base_url: "https://shop.example", api_key: tiny-secret}}
        """
    )

    with pytest.raises(ConfigValidationError) as caught:
        load_and_validate(path, registry)

    problems = {p.path: p for p in caught.value.problems}
    assert set(problems) == {"integrations[0].config.api_key", "integrations[1].config.api_key"}
    assert problems["integrations[0].config.api_key"].rule == "value_error"
    assert problems["integrations[1].config.api_key"].rule == "too_short"
    text = str(caught.value)
    assert "revoked-0123456789abcdef" not in text
    assert "tiny-secret" not in text


def test_broken_driver_is_reported_at_the_integration_that_uses_it(
    write_config: WriteConfig,
) -> None:
    class Unbuildable:
        def __init__(self) -> None:
            raise RuntimeError("needs a license file")

    registry = DriverRegistry.from_classes({"broken": Unbuildable})  # type: ignore[dict-item]
    path = write_config(f"integrations:\n  - {{uuid: {UUID_A}, name: S, driver: broken}}\n")

    (problem,) = validate_integrations(load_settings(path), registry)

    assert (problem.path, problem.rule) == ("integrations[0].driver", "driver_load")
    assert "needs a license file" in problem.message


def test_load_and_validate_reports_file_problems_before_driver_checks(
    write_config: WriteConfig, registry: DriverRegistry
) -> None:
    path = write_config(
        f"integrations:\n  - {{uuid: {UUID_A}, name: S, driver: magento, batch: {{x: 1}}}}\n"
    )

    with pytest.raises(ConfigValidationError) as caught:
        load_and_validate(path, registry)

    assert [p.path for p in caught.value.problems] == ["integrations[0].batch.x"]
