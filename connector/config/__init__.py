"""The connector's configuration: a YAML file, ``${VAR}`` references, ``IEC_*`` overrides.

`load_settings` reads and validates the file; `load_and_validate` also checks every enabled
integration against the installed drivers. Both raise `contracts.ConfigValidationError`
whose `problems` carry paths such as ``integrations[0].config.base_url``.
"""

from connector.config.loading import CONFIG_PATH_ENV, ENV_PREFIX, load_settings
from connector.config.policies import BatchSettings, RetrySettings
from connector.config.settings import (
    RESERVED_KAFKA_PROPERTIES,
    ConnectorSettings,
    IntegrationSettings,
    KafkaSettings,
    MetricsSettings,
    RuntimeSettings,
    SchemaRegistrySettings,
)
from connector.config.validation import check_integrations, load_and_validate, validate_integrations
from connector.topics import TopicSettings

__all__ = [
    "CONFIG_PATH_ENV",
    "ENV_PREFIX",
    "RESERVED_KAFKA_PROPERTIES",
    "BatchSettings",
    "ConnectorSettings",
    "IntegrationSettings",
    "KafkaSettings",
    "MetricsSettings",
    "RetrySettings",
    "RuntimeSettings",
    "SchemaRegistrySettings",
    "TopicSettings",
    "check_integrations",
    "load_and_validate",
    "load_settings",
    "validate_integrations",
]
