"""The error hierarchy shared by drivers and the runtime.

Drivers raise these to tell the runtime what to do with a failure; the runtime classifies
everything else into the same families (see `contracts.classification`)::

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
    """Raised by `handle_batch` when only some records of the batch failed.

    `failures` maps the index of each failed record in the batch to its error; every record
    *not* listed counts as handled, so a driver that stops part-way must list the records it
    did not send too (`stopped` does that: they get a `TransientError` and are sent again).
    What the runtime does with it:

    1. a fatal error among the failures stops the integration;
    2. permanent failures are dead-lettered at once; unlisted records are done;
    3. transient failures are parked for a backoff (other entities go on meanwhile) and sent
       again as a smaller batch together with the later records of the same entities (sent
       again after them, so each entity's mutations still reach the downstream in order);
       once their retries are used up they are dead-lettered.

    Handled records of other entities are never sent again for it, even when every failure
    is transient.
    """

    def __init__(self, failures: Mapping[int, BaseException], message: str | None = None):
        if not failures:
            raise ValueError("PartialBatchError needs at least one failure")
        self.failures: dict[int, BaseException] = dict(failures)
        super().__init__(message or f"{len(self.failures)} record(s) of the batch failed")

    @classmethod
    def stopped(
        cls,
        at: int,
        error: BaseException,
        batch_size: int,
        earlier: Mapping[int, BaseException] | None = None,
    ) -> PartialBatchError:
        """Record `at` failed with `error` and the driver stopped there: records after it
        were not sent and are listed as transient, so they are sent again. `earlier` adds
        failures of records before `at` that the driver skipped and went on from."""
        if not 0 <= at < batch_size:
            raise ValueError(f"record {at} is not in a batch of {batch_size}")
        failures: dict[int, BaseException] = dict(earlier or {})
        failures[at] = error
        for index in range(at + 1, batch_size):
            failures[index] = TransientError(f"not sent: the batch stopped at record {at}")
        return cls(failures, f"stopped at record {at} of {batch_size}: {type(error).__name__}")

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
