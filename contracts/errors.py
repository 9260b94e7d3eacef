"""The error hierarchy shared by drivers and the runtime.

Drivers raise these to tell the runtime what to do with a failure; the runtime classifies
everything else into the same families (see `connector.failures`)::

    IntegrationError
    ├── TransientError ................ retry with backoff, then dead-letter
    │   ├── DependencyNotReadyError ... a referenced entity has no mapping yet
    │   └── RateLimitedError .......... the downstream asked us to slow down (retry_after)
    ├── PermanentError ................ the record itself is wrong: dead-letter, no retry
    │   └── PartialBatchError ......... some records of a batch failed (index -> error)
    └── FatalError .................... configuration or code is wrong: stop the integration
        └── ConfigurationError
            └── ConfigValidationError . a configuration failed its schema (problem list)

Every class carries `retriable` (as aiokafka's errors do), so policy reads
`if exc.retriable:` instead of lists of types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "ConfigProblem",
    "ConfigValidationError",
    "ConfigurationError",
    "DependencyNotReadyError",
    "FatalError",
    "IntegrationError",
    "PartialBatchError",
    "PermanentError",
    "RateLimitedError",
    "TransientError",
]


class IntegrationError(Exception):
    """Base of every error the contract defines."""

    retriable: bool = False
    fatal: bool = False


class TransientError(IntegrationError):
    """The operation may succeed later: downstream unavailable, timeout, throttling."""

    retriable = True


class DependencyNotReadyError(TransientError):
    """A referenced entity (e.g. a product's category) has no external mapping yet."""

    def __init__(
        self, message: str, *, entity_type: str | None = None, entity_uuid: str | None = None
    ):
        super().__init__(message)
        self.entity_type = entity_type
        self.entity_uuid = entity_uuid


class RateLimitedError(TransientError):
    """The downstream throttled us; `retry_after` (seconds) is a hint for the next attempt."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(IntegrationError):
    """The record itself cannot be processed; retrying won't help. It goes to dead letters."""


class PartialBatchError(PermanentError):
    """Raised by `handle_batch` when only some records failed.

    `failures` maps the index of each failed record in the batch to its error. Records not
    listed were handled. Transient failures among them are retried; the rest dead-lettered.
    """

    def __init__(self, failures: Mapping[int, BaseException], message: str | None = None):
        if not failures:
            raise ValueError("PartialBatchError needs at least one failure")
        self.failures: dict[int, BaseException] = dict(failures)
        super().__init__(message or f"{len(self.failures)} record(s) of the batch failed")

    @property
    def retriable(self) -> bool:  # type: ignore[override]
        return all(getattr(e, "retriable", False) for e in self.failures.values())


class FatalError(IntegrationError):
    """The integration cannot run: stop it loudly and commit nothing more."""

    fatal = True


class ConfigurationError(FatalError):
    """The integration's configuration is wrong; an operator must fix it."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One failed rule: where (`path`, dotted), which rule, and a message without the value."""

    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} (rule: {self.rule})"


class ConfigValidationError(ConfigurationError):
    """A configuration failed validation. Messages never contain the rejected values."""

    def __init__(self, problems: Sequence[ConfigProblem], *, prefix: str = ""):
        self.problems = tuple(
            ConfigProblem(f"{prefix}{p.path}" if prefix else p.path, p.rule, p.message)
            for p in problems
        )
        super().__init__("; ".join(str(p) for p in self.problems) or "invalid configuration")

    def with_prefix(self, prefix: str) -> ConfigValidationError:
        """The same problems with their paths under `prefix` (e.g. ``integrations[0].config.``)."""
        return ConfigValidationError(self.problems, prefix=prefix)
