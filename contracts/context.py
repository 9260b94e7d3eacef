"""`IntegrationContext`: what a driver may know about the integration it runs in.

The runtime builds one per integration and hands it over with the rest of the
`contracts.DriverBinding`; a driver reads it as ``self.context``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from contracts.deadline import Deadline, current_deadline
from contracts.retry import RetryPolicy

__all__ = ["IntegrationContext", "system_clock"]


def system_clock() -> datetime:
    """The default clock: now, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class IntegrationContext:
    """Identity, environment, clock, feature flags and time limits of one integration.

    Drivers read the time through `now()` instead of `datetime.now()` so tests can pin it,
    and size their downstream timeouts from `deadline()` (the call's remaining time) and
    `retry` (what the runtime does after a `TransientError`).
    """

    integration_uuid: str
    """The integration's ``uuid`` from the configuration (canonical lowercase form). It
    names the integration's consumer group, mapping topic and dead-letter topic; pass it as
    ``integration_uuid`` to every mapping-service call (`AbstractDriver.integration_uuid`)."""
    integration_name: str
    """The integration's ``name`` from the configuration (for logs and messages)."""
    environment: str = "production"
    """The runtime's ``runtime.environment`` setting (e.g. ``production``, ``staging``)."""
    clock: Callable[[], datetime] = system_clock
    feature_flags: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    handle_timeout_s: float = 60.0
    """How long one `handle`/`handle_batch` call may take (the integration's handle timeout)."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """How the runtime retries this integration's transient failures (its ``retry`` settings)."""

    def deadline(self) -> Deadline:
        """The deadline of the call in progress; outside a call, one `handle_timeout_s` from now.

        Set downstream timeouts below it, e.g. ``httpx.Timeout(ctx.deadline().timeout(10))``.
        """
        return current_deadline() or Deadline.after(self.handle_timeout_s)

    def now(self) -> datetime:
        return self.clock()

    def flag(self, name: str, default: bool = False) -> bool:
        """Whether a feature flag is on (`default` if the integration doesn't set it)."""
        return bool(self.feature_flags.get(name, default))
