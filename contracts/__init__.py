"""The stable contract between the IEC connector runtime and integration drivers.

Depends on pydantic only: a driver package imports `contracts`, never `connector` or a Kafka
client. The names below are the whole public surface.
"""

from contracts._mutation import EntityTypes, MappingData, MutationData, Operation
from contracts._payload import FrozenDict, FrozenList, JsonPayload, thaw
from contracts.binding import BindableDriver, DriverBinding, IntegrationData, bind_driver
from contracts.configuration import (
    RuleSchemaError,
    configuration_json_schema,
    configuration_model,
    secret_fields,
    secret_values,
    validate_configuration,
)
from contracts.context import IntegrationContext
from contracts.deadline import Deadline, current_deadline, deadline_scope
from contracts.driver import (
    AbstractDriver,
    ConfigurationSchema,
    DriverContract,
    is_async_driver,
    missing_contract_methods,
)
from contracts.errors import (
    ConfigProblem,
    ConfigurationError,
    ConfigValidationError,
    DependencyNotReadyError,
    FatalError,
    IntegrationError,
    PartialBatchError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from contracts.mapping import (
    AsyncMappingService,
    EntityMappingService,
    MappingServiceExtensions,
    NewMapping,
)
from contracts.retry import RetryPolicy
from contracts.rule_configuration import RuleConfiguration

__all__ = [
    "AbstractDriver",
    "AsyncMappingService",
    "BindableDriver",
    "ConfigProblem",
    "ConfigValidationError",
    "ConfigurationError",
    "ConfigurationSchema",
    "Deadline",
    "DependencyNotReadyError",
    "DriverBinding",
    "DriverContract",
    "EntityMappingService",
    "EntityTypes",
    "FatalError",
    "FrozenDict",
    "FrozenList",
    "IntegrationContext",
    "IntegrationData",
    "IntegrationError",
    "JsonPayload",
    "MappingData",
    "MappingServiceExtensions",
    "MutationData",
    "NewMapping",
    "Operation",
    "PartialBatchError",
    "PermanentError",
    "RateLimitedError",
    "RetryPolicy",
    "RuleConfiguration",
    "RuleSchemaError",
    "TransientError",
    "bind_driver",
    "configuration_json_schema",
    "configuration_model",
    "current_deadline",
    "deadline_scope",
    "is_async_driver",
    "missing_contract_methods",
    "secret_fields",
    "secret_values",
    "thaw",
    "validate_configuration",
]
