"""The connector's configuration model: one YAML file plus ``IEC_*`` environment overrides.

Every section has defaults a newcomer need not change; only `integrations` needs writing.
Precedence (highest first): environment variables (``IEC_KAFKA__SASL_PASSWORD``), then the
file's values (passed to the model as init values), then the defaults here. Secrets are
`SecretStr`, so they never show in reprs, dumps or validation messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from connector.config.policies import BatchSettings, RetrySettings
from connector.topics import TopicSettings
from contracts.secrecy import FoundSecret, find_secrets

__all__ = [
    "RESERVED_KAFKA_PROPERTIES",
    "ConnectorSettings",
    "IntegrationSettings",
    "KafkaSettings",
    "MetricsSettings",
    "RuntimeSettings",
    "SaslMechanism",
    "SchemaRegistrySettings",
    "SecurityProtocol",
]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]

_SECTION = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

RESERVED_KAFKA_PROPERTIES: dict[str, str] = {
    "enable.auto.commit": "the runtime commits offsets itself, only for records that are done",
    "enable.auto.offset.store": "the runtime stores offsets itself once a batch is done",
    "group.id": "each integration consumes as its own group, <topics.group_prefix>.<uuid>",
    "group.instance.id": "one process runs several groups; set kafka.group_instance_id instead",
    "group.protocol": "the runtime's revoke handling relies on the classic cooperative protocol",
    "partition.assignment.strategy": "the runtime relies on cooperative-sticky assignment",
    "enable.partition.eof": "the runtime sets it as its consumer loop needs",
    "acks": "dead letters and mappings must be acknowledged by all in-sync replicas",
    "enable.idempotence": "the runtime's producers are idempotent so retries never duplicate",
    "transactional.id": "the runtime does not use transactions",
}
"""librdkafka properties the runtime sets itself, with why; `kafka.extra` may not set them."""

_DEDICATED_KAFKA_PROPERTIES = {
    "bootstrap.servers": "bootstrap_servers",
    "metadata.broker.list": "bootstrap_servers",
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.mechanisms": "sasl_mechanism",
    "sasl.username": "sasl_username",
    "sasl.password": "sasl_password",
    "ssl.ca.location": "ssl_ca_location",
    "ssl.certificate.location": "ssl_certificate_location",
    "ssl.key.location": "ssl_key_location",
    "ssl.key.password": "ssl_key_password",
    "client.id": "client_id",
}

_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_ENTITY_TYPE = re.compile(r"^[A-Za-z0-9._-]+$")


def _extra_property(name: str) -> str:
    if not _PROPERTY_NAME.match(name):
        raise PydanticCustomError(
            "kafka_property", "not a librdkafka property name (lowercase, dot-separated)"
        )
    if name in RESERVED_KAFKA_PROPERTIES:
        raise PydanticCustomError(
            "reserved_property",
            f"set by the runtime ({RESERVED_KAFKA_PROPERTIES[name]}); remove it",
        )
    if name in _DEDICATED_KAFKA_PROPERTIES:
        raise PydanticCustomError(
            "dedicated_setting", f"use kafka.{_DEDICATED_KAFKA_PROPERTIES[name]} instead"
        )
    return name


def _property_values(value: Any) -> Any:
    # YAML gives `linger.ms: 5` as an int and `x: true` as a bool; librdkafka wants strings.
    if isinstance(value, dict):
        return {key: _property_value(item) for key, item in value.items()}
    return value


def _property_value(item: Any) -> Any:
    if isinstance(item, bool):
        return "true" if item else "false"
    return str(item) if isinstance(item, int | float) else item


def _canonical_uuid(value: str) -> str:
    try:
        return str(UUID(value))
    except ValueError:
        raise PydanticCustomError(
            "uuid", "must be a UUID such as 3f2b8c1e-5d4a-4e2f-9b7c-1a2b3c4d5e6f"
        ) from None


def _entity_type(value: str) -> str:
    if not _ENTITY_TYPE.match(value):
        raise PydanticCustomError(
            "entity_type",
            "may contain only letters, digits, '.', '_' and '-' (it becomes part of a topic name)",
        )
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
KafkaPropertyName = Annotated[str, AfterValidator(_extra_property)]
EntityTypeName = Annotated[str, StringConstraints(min_length=1), AfterValidator(_entity_type)]


class KafkaSettings(BaseModel):
    """The `kafka` section: how every client of the connector reaches the cluster."""

    model_config = _SECTION

    bootstrap_servers: NonEmptyStr = "127.0.0.1:9092"
    """Comma-separated ``host:port`` list."""
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    client_id: NonEmptyStr = "iec-connector"
    group_instance_id: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,200}$")] | None
    ) = None
    """Static group membership: a stable identity of this process (a StatefulSet pod's name,
    e.g. ``${POD_NAME}``). Each integration's consumer joins as
    ``<group_instance_id>.<integration uuid>``, so a restarted process gets its partitions
    back at once instead of after the session timeout. Two live processes must never share
    it (the broker fences the older one)."""
    extra: Annotated[dict[KafkaPropertyName, str], BeforeValidator(_property_values)] = Field(
        default_factory=dict,
        repr=False,  # may hold secrets (e.g. sasl.oauthbearer.*)
    )
    """Other librdkafka properties, passed to every client (``linger.ms``, ``socket.*``...)."""

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers(cls, value: str) -> str:
        servers = [part.strip() for part in value.split(",")]
        if any(not server or any(c.isspace() for c in server) for server in servers):
            raise PydanticCustomError(
                "bootstrap_servers", "must be a comma-separated list of host:port"
            )
        return ",".join(servers)

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if not self.security_protocol.startswith("SASL_"):
            return self
        if self.sasl_mechanism is None:
            raise PydanticCustomError(
                "required_with",
                "required when security_protocol is SASL_PLAINTEXT or SASL_SSL",
                {"at": "sasl_mechanism"},
            )
        if self.sasl_mechanism != "OAUTHBEARER":
            for name in ("sasl_username", "sasl_password"):
                if getattr(self, name) is None:
                    raise PydanticCustomError(
                        "required_with",
                        f"required with sasl_mechanism {self.sasl_mechanism}",
                        {"at": name},
                    )
        return self

    def static_member_id(self, integration_uuid: str) -> str | None:
        """The integration consumer's `group.instance.id` (None: dynamic membership)."""
        if self.group_instance_id is None:
            return None
        return f"{self.group_instance_id}.{integration_uuid}"

    def client_config(self) -> dict[str, str]:
        """librdkafka properties common to all clients, secrets revealed: only to build clients."""
        config = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            "client.id": self.client_id,
        }
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": _reveal(self.sasl_password),
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": _reveal(self.ssl_key_password),
        }
        config.update({key: value for key, value in optional.items() if value is not None})
        config.update(self.extra)
        return config


class SchemaRegistrySettings(BaseModel):
    """The optional `schema_registry` section; without it, mutations use single-object Avro."""

    model_config = _SECTION

    url: NonEmptyStr
    """One URL, or several comma-separated."""
    basic_auth_user: str | None = None
    basic_auth_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    timeout_s: float = Field(5.0, gt=0)
    """Per-request timeout. Schema lookups happen while consuming: a hung registry must fail
    fast (the decode is then retried with backoff) rather than stall every integration."""
    max_retries: int = Field(1, ge=0)

    @field_validator("url")
    @classmethod
    def _http_urls(cls, value: str) -> str:
        for part in value.split(","):
            split = urlsplit(part.strip())
            if split.scheme not in ("http", "https") or not split.hostname:
                raise PydanticCustomError("url", "must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _auth_pair(self) -> SchemaRegistrySettings:
        if (self.basic_auth_user is None) != (self.basic_auth_password is None):
            missing = (
                "basic_auth_password" if self.basic_auth_password is None else "basic_auth_user"
            )
            raise PydanticCustomError(
                "required_with", "basic auth needs both user and password", {"at": missing}
            )
        return self

    def client_config(self) -> dict[str, Any]:
        """Configuration for `confluent_kafka.schema_registry.SchemaRegistryClient`."""
        config: dict[str, Any] = {
            "url": self.url,
            "timeout": self.timeout_s,
            "max.retries": self.max_retries,
        }
        if self.basic_auth_user is not None and self.basic_auth_password is not None:
            config["basic.auth.user.info"] = (
                f"{self.basic_auth_user}:{self.basic_auth_password.get_secret_value()}"
            )
        if self.ssl_ca_location is not None:
            config["ssl.ca.location"] = self.ssl_ca_location
        return config


class MetricsSettings(BaseModel):
    """The `metrics` section: where Prometheus metrics and health endpoints are served."""

    model_config = _SECTION

    enabled: bool = True
    host: NonEmptyStr = "0.0.0.0"  # all interfaces: Prometheus scrapes from outside a container
    port: int = Field(9464, ge=0, le=65535)
    """0 picks a free port (tests)."""


class RuntimeSettings(BaseModel):
    """The `runtime` section: process-wide behaviour."""

    model_config = _SECTION

    shutdown_grace_ms: int = Field(30_000, ge=0)
    """How long in-flight batches may finish after SIGTERM before the process gives up on them."""
    revoke_grace_ms: int = Field(20_000, ge=0)
    """How long in-flight batches of revoked partitions may finish before they are abandoned."""
    commit_interval_ms: int = Field(200, ge=0, le=60_000)
    """How often finished offsets are committed while running (asynchronously, coalesced: at
    most one commit per interval): a crash redelivers the work in flight plus what finished
    within the last interval. 0 commits after every fetch that finished something."""
    environment: NonEmptyStr = "production"
    """Passed to drivers through `IntegrationContext.environment`."""
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)
    ] = "INFO"
    log_format: Literal["text", "json"] = "text"


class IntegrationSettings(BaseModel):
    """One integration: a driver, its configuration, and how the runtime feeds it."""

    model_config = _SECTION

    uuid: Annotated[str, AfterValidator(_canonical_uuid)]
    """Names the consumer group and the integration's mapping, dead-letter and retry topics."""
    name: NonEmptyStr
    driver: NonEmptyStr
    """The driver type, as `iec-connector drivers list` shows it."""
    config: dict[str, Any] = Field(default_factory=dict, repr=False)
    """The driver's configuration, validated against its schema (may hold secrets: no repr)."""
    entity_types: list[EntityTypeName] | None = None
    """The entity types to consume; None means all the driver supports."""
    batch: BatchSettings = Field(default_factory=BatchSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    handle_timeout_ms: int = Field(60_000, gt=0)
    """How long one `handle_batch`/`handle` call may take. An async call is cancelled then
    (a transient failure); a sync call cannot be interrupted: its records wait until it
    ends, and the overrun is logged and counted. Drivers read it as their deadline."""
    concurrency: int = Field(8, ge=1, le=1024)
    """How many driver calls may be in flight at once (batches, or single records for a
    driver that implements only `handle`). Never two for the same ordering key. A sync
    driver gets this many worker threads, so it must be safe to call from several threads;
    set 1 for a driver that is not."""
    ordering: Literal["key", "partition"] = "key"
    """What must stay in order: ``key`` (records of one entity, in offset order; different
    entities concurrently) or ``partition`` (a partition's records one batch at a time)."""
    enabled: bool = True
    feature_flags: dict[str, bool] = Field(default_factory=dict)

    @field_validator("entity_types")
    @classmethod
    def _distinct_types(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise PydanticCustomError(
                "non_empty", "name at least one entity type, or leave it out for all"
            )
        for index, name in enumerate(value):
            if name in value[:index]:
                raise PydanticCustomError("unique", "listed twice", {"at": f"[{index}]"})
        return value


class ConnectorSettings(BaseSettings):
    """The whole configuration. Load it with `connector.config.load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="IEC_",
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    schema_registry: SchemaRegistrySettings | None = None
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    integrations: list[IntegrationSettings] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first: an operator overrides a file baked into an image without editing
        # it. The file's content arrives as init values (see `load_settings`).
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _cross_checks(self) -> ConnectorSettings:
        seen: dict[str, int] = {}
        for index, integration in enumerate(self.integrations):
            first = seen.setdefault(integration.uuid, index)
            if first != index:
                raise PydanticCustomError(
                    "unique",
                    f"the same uuid as integrations[{first}]; each integration needs its own "
                    "(it names its consumer group and topics)",
                    {"at": f"integrations[{index}].uuid"},
                )
        prefixes: dict[str, str] = {}
        for name in ("mutation_prefix", "mapping_prefix", "dead_letter_prefix", "retry_prefix"):
            other = prefixes.setdefault(getattr(self.topics, name), name)
            if other != name:
                raise PydanticCustomError(
                    "unique",
                    f"the same as topics.{other}; each kind of topic needs its own prefix",
                    {"at": f"topics.{name}"},
                )
        return self

    def enabled_integrations(self) -> list[IntegrationSettings]:
        return [integration for integration in self.integrations if integration.enabled]

    def secrets(self, driver_configs: Mapping[str, BaseModel] | None = None) -> list[FoundSecret]:
        """Every secret of the configuration and of the validated driver configurations (by
        integration uuid), as `contracts.secrecy` defines them: typed and secret-named fields,
        secret-named keys of `kafka.extra` and driver configs, URL/DSN credentials anywhere."""
        found = find_secrets(self)
        index = {integration.uuid: i for i, integration in enumerate(self.integrations)}
        for uuid, config in (driver_configs or {}).items():
            found += find_secrets(config, where=f"integrations[{index.get(uuid, uuid)}].config")
        return found

    def secret_values(self) -> list[str]:
        """The values of `secrets()`, for messages that must not echo them."""
        return [secret.value for secret in self.secrets()]


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()
