"""What an operator command reads: the cluster, the topic names and one integration.

With ``--config`` all of it comes from the connector's configuration (so SASL/TLS clusters
work as they do for `run`), and ``--integration`` may name the integration; without, from
``--bootstrap-servers`` and the topic-prefix options.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import typer
from pydantic import ValidationError

from connector.cli.config_cmd import exit_with_problems
from connector.cli.failures import reported_failures
from connector.cli.options import DEFAULT_BOOTSTRAP, Bootstrap, ConfigFile, IntegrationRef
from connector.codec import MutationCodec
from connector.codec.configured import configured_codec
from connector.config import ConnectorSettings, IntegrationSettings, load_settings
from connector.kafka.preflight import check_connection
from connector.logging_config import configure_logging
from connector.redaction import Redactor
from connector.topics import TopicSettings
from contracts import ConfigProblem, ConfigValidationError

__all__ = ["ClusterTarget", "ResolveTarget", "cluster_options", "resolve_target"]


@dataclass(frozen=True)
class ClusterTarget:
    """Client properties (secrets revealed: only for building clients), topic names, the
    integration's uuid, and a redactor for every message that may echo a client error."""

    client_config: dict[str, str] = field(repr=False)
    topics: TopicSettings
    integration_uuid: str
    redactor: Redactor
    settings: ConnectorSettings | None = field(default=None, repr=False)

    def codec(self) -> MutationCodec:
        """A codec that decodes what the runtime decodes: with the configured schema registry."""
        registry = self.settings.schema_registry if self.settings is not None else None
        return configured_codec(registry, self.topics)


ResolveTarget = Callable[[Mapping[str, str]], ClusterTarget]
"""`resolve_target` with the shared options applied, waiting for the command's prefixes."""


def cluster_options(
    ctx: typer.Context,
    integration: IntegrationRef,
    config: ConfigFile = None,
    bootstrap_servers: Bootstrap = DEFAULT_BOOTSTRAP,
) -> ResolveTarget:
    """The options of every command that reads one integration's topics (for `options_from`;
    each command group adds the options of its own topic prefixes)."""
    return functools.partial(
        resolve_target,
        ctx,
        config=config,
        integration=integration,
        bootstrap_servers=bootstrap_servers,
    )


def resolve_target(
    ctx: typer.Context,
    prefixes: Mapping[str, str],
    *,
    config: Path | None,
    integration: str,
    bootstrap_servers: str,
) -> ClusterTarget:
    """The target from `config` if given, else from the options. Every refusal exits 2.

    `prefixes` maps `TopicSettings` fields to the values of the command's options of the same
    name. With `config`:

    1. Refuse the options it replaces when given on the command line (not from the environment).
    2. Load it: one line per problem on stderr.
    3. Find the integration by uuid or name.
    4. Check that the cluster answers and accepts the credentials, as `run` does, so a wrong
       password fails at once with one clear (redacted) line and exit 2 (1 if the cluster
       cannot be reached), not as a timeout.
    """
    if config is None:
        return _from_options(ctx, integration, bootstrap_servers, prefixes)
    # 1. replaced options
    replaced = [
        _flag(ctx, name)
        for name in ("bootstrap_servers", *prefixes)
        if _given_on_command_line(ctx, name)
    ]
    if replaced:
        raise typer.BadParameter(
            "the configuration names the cluster and topics; leave these out or drop --config",
            param_hint=", ".join(replaced),
        )
    # 2. load
    try:
        settings = load_settings(config)
    except ConfigValidationError as exc:
        raise exit_with_problems(exc.problems) from None
    # 3. integration
    chosen = _integration(settings, integration, config)
    # 4. cluster (librdkafka's own warnings through the redacting log handler)
    redactor = Redactor(settings.secrets())
    configure_logging("WARNING", settings.runtime.log_format, redactor)
    client_config = settings.kafka.client_config()
    with reported_failures(redactor):
        check_connection(client_config)
    return ClusterTarget(
        client_config=client_config,
        topics=settings.topics,
        integration_uuid=chosen.uuid,
        redactor=redactor,
        settings=settings,
    )


def _from_options(
    ctx: typer.Context, integration: str, bootstrap_servers: str, prefixes: Mapping[str, str]
) -> ClusterTarget:
    try:
        topics = TopicSettings(**prefixes)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise typer.BadParameter(
            error["msg"], param_hint=_flag(ctx, str(error["loc"][0]))
        ) from None
    try:
        # Topic and group names use the canonical spelling the configuration gives uuids.
        integration_uuid = str(UUID(integration))
    except ValueError:
        raise typer.BadParameter(
            "not a uuid (give --config to name an integration by its name)",
            param_hint=_flag(ctx, "integration"),
        ) from None
    return ClusterTarget(
        client_config={"bootstrap.servers": bootstrap_servers or DEFAULT_BOOTSTRAP},
        topics=topics,
        integration_uuid=integration_uuid,
        redactor=Redactor(),  # plain options carry no secrets
    )


def _integration(settings: ConnectorSettings, ref: str, config: Path) -> IntegrationSettings:
    """The integration `ref` names: by uuid (any spelling), else by its unique name."""
    try:
        uuid = str(UUID(ref))
    except ValueError:
        uuid = None
    by_uuid = [i for i in settings.integrations if i.uuid == uuid]
    by_name = [i for i in settings.integrations if i.name == ref]
    found = by_uuid or by_name
    if len(found) == 1:
        return found[0]
    if found:
        message = (
            f"{len(found)} integrations are named {ref!r} in {config.name}; give the uuid "
            f"({', '.join(i.uuid for i in found)})"
        )
        rule = "ambiguous"
    else:
        known = ", ".join(f"{i.name} ({i.uuid})" for i in settings.integrations) or "none"
        message = f"no integration with uuid or name {ref!r} in {config.name} (known: {known})"
        rule = "unknown"
    raise exit_with_problems([ConfigProblem("--integration", rule, message)])


def _given_on_command_line(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _flag(ctx: typer.Context, name: str) -> str:
    return next((param.opts[0] for param in ctx.command.params if param.name == name), f"--{name}")
