"""`RetryPolicy`: how the runtime retries a driver's transient failures, as the driver sees it.

The runtime builds it from the integration's ``retry`` settings and puts it on
`IntegrationContext.retry`. A driver reads it to size its own behaviour, e.g. to give up
waiting on a downstream lock before the runtime's next attempt would anyway, or to log how
many attempts are left. The runtime does the retrying: a driver raises `TransientError` and
never loops on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The integration's retry settings, in seconds.

    Delay before attempt n+1 = min(initial_backoff_s * multiplier**(n-1), max_backoff_s),
    spread by ±jitter (a fraction). Retrying stops after `max_attempts` attempts or
    `max_elapsed_s`, whichever comes first; then the record is dead-lettered.
    """

    max_attempts: int = 10
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.2
    max_elapsed_s: float = 900.0
    unknown_errors: Literal["transient", "permanent"] = "transient"
    """How the runtime treats an exception it cannot classify (see `contracts.classification`)."""

    def delay(self, attempt: int) -> float:
        """The nominal delay (before jitter) after failed attempt number `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError("attempts are numbered from 1")
        return float(
            min(self.initial_backoff_s * self.multiplier ** (attempt - 1), self.max_backoff_s)
        )
