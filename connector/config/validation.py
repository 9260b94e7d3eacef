"""Checking integrations against the installed drivers: type, configuration, entity types."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from connector.config.interpolation import join_path
from connector.config.loading import load_settings
from connector.config.problems import normalize_path
from connector.config.settings import ConnectorSettings
from connector.driver_registry import DriverLoadError, DriverRegistry
from connector.redaction import Redactor
from contracts import (
    ConfigProblem,
    ConfigurationError,
    ConfigValidationError,
    validate_configuration,
)

__all__ = ["check_integrations", "load_and_validate", "validate_integrations"]


def check_integrations(
    settings: ConnectorSettings, registry: DriverRegistry
) -> tuple[dict[str, BaseModel], list[ConfigProblem]]:
    """The validated driver configuration of each enabled integration (by uuid), and problems.

    For each enabled integration: its driver type is installed, its `config` passes the
    driver's schema, and its `entity_types` are ones the driver supports. Disabled ones are
    not checked, so a half-written integration can wait switched off.
    """
    configs: dict[str, BaseModel] = {}
    problems: list[ConfigProblem] = []
    redactor = Redactor(settings.secrets())  # driver configs included, raw
    for index, integration in enumerate(settings.integrations):
        if not integration.enabled:
            continue
        at = join_path("integrations", index)
        try:
            info = registry.info(integration.driver)
            driver = registry.create(integration.driver)
            schema = driver.get_configuration_schema()
        except DriverLoadError as exc:
            problems.append(ConfigProblem(f"{at}.driver", "driver_load", str(exc)))
            continue
        except ConfigurationError as exc:
            problems.append(ConfigProblem(f"{at}.driver", "known_driver", str(exc)))
            continue
        except Exception as exc:  # a third-party driver failing to start is a config problem
            problems.append(
                ConfigProblem(
                    f"{at}.driver",
                    "driver_schema",
                    redactor.redact(
                        f"driver failed to give its schema: {type(exc).__name__}: {exc}"
                    ),
                )
            )
            continue
        try:
            configs[integration.uuid] = validate_configuration(schema, integration.config)
        except ConfigValidationError as exc:
            for problem in exc.problems:
                path = f"{at}.config"
                if problem.path != "<root>":
                    path = f"{path}{_relative(problem.path)}"
                problems.append(ConfigProblem(path, problem.rule, redactor.redact(problem.message)))
        except ConfigurationError as exc:  # the driver's own schema is broken (RuleSchemaError)
            problems.append(
                ConfigProblem(f"{at}.driver", "driver_schema", redactor.redact(str(exc)))
            )
        supported = set(info.supported_entity_types)
        for position, entity_type in enumerate(integration.entity_types or ()):
            if entity_type not in supported:
                problems.append(
                    ConfigProblem(
                        f"{at}.entity_types[{position}]",
                        "supported_entity_type",
                        f"driver {info.type!r} does not support entity type {entity_type!r} "
                        f"(supported: {', '.join(info.supported_entity_types)})",
                    )
                )
    return configs, problems


def validate_integrations(
    settings: ConnectorSettings, registry: DriverRegistry
) -> list[ConfigProblem]:
    """The problems `check_integrations` finds (empty when every enabled integration is valid)."""
    return check_integrations(settings, registry)[1]


def load_and_validate(
    path: str | Path | None, registry: DriverRegistry
) -> tuple[ConnectorSettings, dict[str, BaseModel]]:
    """Load the file and check its integrations; raise `ConfigValidationError` with every problem.

    Returns the settings and the validated driver configuration per enabled integration uuid.
    """
    settings = load_settings(path)
    configs, problems = check_integrations(settings, registry)
    if problems:
        raise ConfigValidationError(problems)
    return settings, configs


def _relative(path: str) -> str:
    normalized = normalize_path(path)
    return normalized if normalized.startswith("[") else f".{normalized}"
