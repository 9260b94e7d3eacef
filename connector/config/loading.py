"""Reading the configuration: YAML file, ``${VAR}`` references, ``IEC_*`` overrides, validation.

`load_settings` follows these steps:

1. Find the file: the given path, else ``$IEC_CONFIG``, else none (defaults + environment).
2. Parse it as YAML (syntax errors and duplicate keys are problems with their line).
3. Substitute ``${VAR}`` / ``${VAR:-default}`` references from the environment.
4. Validate into `ConnectorSettings`, environment variables overriding the file.

Every failure raises `ConfigValidationError` listing all problems found in that step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import SettingsError

from connector.config.interpolation import interpolate
from connector.config.problems import problems_from_validation_error
from connector.config.settings import ConnectorSettings
from connector.redaction import Redactor
from contracts import ConfigProblem, ConfigValidationError
from contracts.secrecy import FoundSecret, find_secrets

__all__ = [
    "CONFIG_PATH_ENV",
    "ENV_PREFIX",
    "config_path",
    "load_settings",
    "read_config_file",
    "settings_from_mapping",
]

CONFIG_PATH_ENV = "IEC_CONFIG"
"""Environment variable naming the configuration file when none is given."""
ENV_PREFIX = "IEC_"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def config_path(path: str | Path | None) -> Path | None:
    """The file to read: `path`, else ``$IEC_CONFIG``, else None."""
    if path is not None and str(path) != "":
        return Path(path)
    from_env = os.environ.get(CONFIG_PATH_ENV)
    return Path(from_env) if from_env else None


def read_config_file(path: Path) -> dict[str, Any]:
    """The YAML mapping in `path` (empty file: empty mapping); problems carry the line."""
    where = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigValidationError(
            [ConfigProblem(where, "file", f"configuration file not found: {path}")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigValidationError(
            [ConfigProblem(where, "file", f"cannot read {path}: {reason}")]
        ) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        column = f", column {mark.column + 1}" if mark is not None else ""
        # Only the parser's description: its snippet of the offending line could hold a secret.
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigValidationError(
            [ConfigProblem(f"{where}{line}", "yaml", f"{what} (line {line[1:] or '?'}{column})")]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigValidationError([ConfigProblem(where, "yaml", type(exc).__name__)]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigValidationError(
            [
                ConfigProblem(
                    where, "yaml", "the file must hold a mapping (kafka: ..., integrations: ...)"
                )
            ]
        )
    return data


def load_settings(path: str | Path | None = None) -> ConnectorSettings:
    """Load and validate the configuration (see the module docstring for the steps)."""
    # 1. Find the file.
    file = config_path(path)
    # 2. Parse it.
    data = read_config_file(file) if file is not None else {}
    # 3. Substitute references.
    data, problems = interpolate(data, os.environ)
    if problems:
        raise ConfigValidationError(problems)
    # 4. Validate, environment over file.
    return settings_from_mapping(data)


def settings_from_mapping(data: Mapping[Any, Any]) -> ConnectorSettings:
    """Validate already-parsed file content (environment overrides still apply)."""
    # Init keywords starting with "_" are pydantic-settings options (`_secrets_dir`...), so a
    # file must not be able to pass them.
    problems = [
        ConfigProblem(str(key), "unknown", "is not a known configuration key")
        for key in data
        if not isinstance(key, str) or key.startswith("_")
    ]
    if problems:
        raise ConfigValidationError(problems)
    secrets = find_secrets(data) + _environment_secrets()
    try:
        return ConnectorSettings(**data)
    except ValidationError as exc:
        raise ConfigValidationError(
            problems_from_validation_error(exc, root=ConnectorSettings, secrets=secrets)
        ) from None
    except SettingsError as exc:
        # pydantic-settings names the field and the source, not the value.
        raise ConfigValidationError(
            [ConfigProblem("<environment>", "env_parse", Redactor(secrets).redact(str(exc)))]
        ) from None


def _environment_secrets() -> list[FoundSecret]:
    """Secrets among the ``IEC_*`` overrides (secret names, URL credentials)."""
    ours = {
        name: value for name, value in os.environ.items() if name.upper().startswith(ENV_PREFIX)
    }
    return find_secrets(ours)
