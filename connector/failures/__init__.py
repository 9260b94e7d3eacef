"""Failure handling: classify errors, retry transient ones, isolate poison records in a batch."""

from connector.failures.classification import FailureKind, UnknownPolicy, classify
from connector.failures.isolation import FailedItem, IsolationResult, isolate
from connector.failures.retry import (
    Failed,
    OnRetry,
    Outcome,
    RetriesExhaustedError,
    RetryRunner,
    Succeeded,
    retry_observer,
)

__all__ = [
    "Failed",
    "FailedItem",
    "FailureKind",
    "IsolationResult",
    "OnRetry",
    "Outcome",
    "RetriesExhaustedError",
    "RetryRunner",
    "Succeeded",
    "UnknownPolicy",
    "classify",
    "isolate",
    "retry_observer",
]
