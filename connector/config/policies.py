"""Per-integration batching and retry settings (sections `batch` and `retry`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts import RetryPolicy

__all__ = ["BatchSettings", "RetrySettings"]


class BatchSettings(BaseModel):
    """A batch is handed to the driver when any limit is reached, whichever comes first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_records: int = Field(250, ge=1, le=100_000)
    max_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    """Sum of record value sizes; a single larger record still forms a batch of one."""
    linger_ms: int = Field(200, ge=0, le=600_000)
    """How long a partial batch waits for more records before it is handed over anyway."""


class RetrySettings(BaseModel):
    """How transient failures are retried before a record is dead-lettered.

    Delay before attempt n+1 = min(initial_backoff * multiplier**(n-1), max_backoff), spread by
    ±jitter (a fraction). Retrying stops after `max_attempts` attempts or `max_elapsed_ms`,
    whichever comes first.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(10, ge=1)
    initial_backoff_ms: int = Field(500, ge=0)
    max_backoff_ms: int = Field(60_000, ge=0)
    multiplier: float = Field(2.0, ge=1.0)
    jitter: float = Field(0.2, ge=0.0, le=1.0)
    max_elapsed_ms: int = Field(15 * 60_000, ge=0)
    unknown_errors: Literal["transient", "permanent"] = "transient"
    """How exceptions outside the contract's hierarchy are treated (default: retried)."""

    def policy(self) -> RetryPolicy:
        """The drivers' view of these settings (`IntegrationContext.retry`), in seconds."""
        return RetryPolicy(
            max_attempts=self.max_attempts,
            initial_backoff_s=self.initial_backoff_ms / 1000,
            max_backoff_s=self.max_backoff_ms / 1000,
            multiplier=self.multiplier,
            jitter=self.jitter,
            max_elapsed_s=self.max_elapsed_ms / 1000,
            unknown_errors=self.unknown_errors,
        )

    @model_validator(mode="after")
    def _backoff_order(self) -> RetrySettings:
        if self.max_backoff_ms < self.initial_backoff_ms:
            raise ValueError("max_backoff_ms must be >= initial_backoff_ms")
        return self
