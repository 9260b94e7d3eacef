"""The driver contract as plain checks, usable from any test runner.

Each check raises `ContractViolationError` (an `AssertionError`) with a message that says what the
driver did wrong and how to fix it. `contracts.testing.suite.DriverContractSuite` runs them
under pytest; other runners can call them with a `DriverHarness`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

from contracts._mutation import MutationData
from contracts.classification import DEFAULT_CLASSIFIER, FailureKind
from contracts.configuration import configuration_json_schema, configuration_model
from contracts.driver import DriverContract
from contracts.errors import IntegrationError
from contracts.testing.factories import (
    MutationFactory,
    empty_payload,
    large_payload,
    malformed_payload,
    unicode_payload,
)
from contracts.testing.harness import DriverHarness

__all__ = [
    "ContractViolationError",
    "check_configuration_schema",
    "check_delete_of_unknown_entity",
    "check_edge_payload",
    "check_identity",
    "check_lifecycle",
    "check_mixed_batches",
    "check_mutations_left_unchanged",
    "check_replay_is_idempotent",
    "check_single_handle",
    "check_supported_entity_types",
]

# semver.org's recommended pattern.
SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)

Snapshot = Callable[[], object]


class ContractViolationError(AssertionError):
    """The driver breaks the contract; the message says where and how."""


def _succeeds(what: str, call: Callable[[], None]) -> None:
    try:
        call()
    except IntegrationError as exc:
        raise ContractViolationError(
            f"{what}: must succeed, but the driver raised {type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:
        raise ContractViolationError(
            f"{what}: must succeed, but the driver raised {type(exc).__name__} "
            f"(not even a contracts.errors error): {exc}"
        ) from exc


def _succeeds_or_rejects(what: str, call: Callable[[], None]) -> BaseException | None:
    """Success, or a record-level rejection (transient or permanent), is acceptable.

    A rejection is judged as the runtime judges it (`contracts.classification`): a contract
    error, or a library exception the table classifies (an `httpx.ConnectError` is transient,
    a `KeyError` permanent). A fatal kind stops the whole integration, and an exception the
    table does not know depends on the deployment's ``retry.unknown_errors``: both fail.
    """
    try:
        call()
    except Exception as exc:
        if not DEFAULT_CLASSIFIER.knows(exc):
            raise ContractViolationError(
                f"{what}: the driver raised {type(exc).__name__}, which the runtime cannot "
                f"classify (it would follow the integration's retry.unknown_errors, retried "
                f"by default); raise PermanentError for a record it cannot process "
                f"(TransientError if a retry may help), or `raise ... from` a known error: {exc}"
            ) from exc
        if DEFAULT_CLASSIFIER.classify(exc) is FailureKind.FATAL:
            raise ContractViolationError(
                f"{what}: the driver raised {type(exc).__name__}, which stops the whole "
                f"integration; a bad record calls for PermanentError"
            ) from exc
        return exc
    return None


# -- identity and configuration -------------------------------------------------------------


def _call_identity(driver: DriverContract, method: str) -> object:
    try:
        return getattr(driver, method)()
    except Exception as exc:
        raise ContractViolationError(
            f"{method}() raised {type(exc).__name__}: {exc}; identity methods must return "
            f"constant strings without needing the configuration or the network"
        ) from exc


def check_identity(driver: DriverContract) -> None:
    """get_name/get_type/get_version/get_description return strings; all but the last non-empty."""
    for method in ("get_name", "get_type", "get_version"):
        value = _call_identity(driver, method)
        if not isinstance(value, str) or not value.strip():
            raise ContractViolationError(
                f"{method}() must return a non-empty string, got {value!r}"
            )
    description = _call_identity(driver, "get_description")
    if not isinstance(description, str):
        raise ContractViolationError(f"get_description() must return a string, got {description!r}")
    version = driver.get_version()
    if not SEMVER.fullmatch(version):
        raise ContractViolationError(
            f"get_version() must be a semantic version such as '1.0.0', got {version!r}"
        )


def check_supported_entity_types(driver: DriverContract) -> None:
    types = driver.get_supported_entity_types()
    if isinstance(types, str) or not isinstance(types, Iterable):
        raise ContractViolationError(
            f"get_supported_entity_types() must return a sequence of strings, got {types!r}"
        )
    listed = list(types)
    if not listed:
        raise ContractViolationError(
            "get_supported_entity_types() must name at least one entity type"
        )
    for entity_type in listed:
        if not isinstance(entity_type, str) or not entity_type.strip():
            raise ContractViolationError(
                f"entity types must be non-empty strings, got {entity_type!r}"
            )
    if len(set(listed)) != len(listed):
        raise ContractViolationError(f"get_supported_entity_types() lists duplicates: {listed!r}")


def check_configuration_schema(driver: DriverContract) -> None:
    """The schema translates into a model and an object-typed, serialisable JSON Schema."""
    schema = driver.get_configuration_schema()
    configuration_model(schema)  # raises RuleSchemaError naming field and rule
    json_schema = configuration_json_schema(schema)
    if not isinstance(json_schema, dict) or json_schema.get("type") != "object":
        raise ContractViolationError(
            f"the configuration's JSON Schema must describe an object, got {json_schema!r}"
        )
    json.dumps(json_schema)


# -- processing -----------------------------------------------------------------------------


def check_single_handle(
    harness: DriverHarness, factory: MutationFactory, entity_types: Sequence[str]
) -> None:
    for entity_type in entity_types:
        created = factory.mutation(entity_type, "created")
        _succeeds(f"handle() of a created {entity_type}", partial(harness.handle, created))


def check_lifecycle(
    harness: DriverHarness, factory: MutationFactory, entity_types: Sequence[str]
) -> None:
    """created → updated → deleted, one batch each and then all three in one batch."""
    for entity_type in entity_types:
        for mutation in factory.lifecycle(entity_type):
            what = f"handle_batch([{mutation.operation.value} {entity_type}])"
            _succeeds(what, partial(harness.handle_batch, [mutation]))
        batch = list(factory.lifecycle(entity_type))
        _succeeds(
            f"handle_batch([created, updated, deleted] of one {entity_type})",
            partial(harness.handle_batch, batch),
        )


def _edge_payload(kind: str, entity_type: str, key: str, large_bytes: int) -> dict[str, Any]:
    if kind == "empty":
        return empty_payload()
    if kind == "unicode":
        return unicode_payload(entity_type, key)
    if kind == "large":
        return large_payload(large_bytes, entity_type, key)
    if kind == "malformed":
        return malformed_payload()
    raise ValueError(f"unknown payload kind {kind!r}")


def check_edge_payload(
    harness: DriverHarness,
    factory: MutationFactory,
    entity_types: Sequence[str],
    kind: str,
    *,
    large_bytes: int = 1_048_576,
) -> None:
    """`kind` is ``empty``, ``unicode``, ``large`` or ``malformed``.

    Unicode payloads must succeed; the others may also be rejected with a transient or
    permanent contract error (never anything else, and never a fatal error).
    """
    for entity_type in entity_types:
        uuid = factory.uuid()
        payload = _edge_payload(kind, entity_type, uuid[:8], large_bytes)
        for operation in ("created", "updated"):
            mutation = factory.mutation(entity_type, operation, payload, entity_uuid=uuid)
            what = f"handle_batch([{operation} {entity_type} with a {kind} payload])"
            if kind == "unicode":
                _succeeds(what, partial(harness.handle_batch, [mutation]))
            else:
                _succeeds_or_rejects(what, partial(harness.handle_batch, [mutation]))


def check_delete_of_unknown_entity(
    harness: DriverHarness, factory: MutationFactory, entity_types: Sequence[str]
) -> None:
    for entity_type in entity_types:
        deleted = factory.mutation(entity_type, "deleted")
        _succeeds(
            f"deleting a {entity_type} that was never created",
            partial(harness.handle_batch, [deleted]),
        )


def check_mixed_batches(
    harness: DriverHarness, factory: MutationFactory, entity_types: Sequence[str]
) -> None:
    for entity_type in entity_types:
        batch = factory.mixed_batch(entity_type)
        _succeeds(f"a mixed batch of {entity_type} mutations", partial(harness.handle_batch, batch))


def _describe_difference(before: object, after: object) -> str:
    if isinstance(before, dict) and isinstance(after, dict):
        added = [k for k in after if k not in before]
        removed = [k for k in before if k not in after]
        changed = [k for k in before if k in after and before[k] != after[k]]
        return f"added {added[:3]!r}, removed {removed[:3]!r}, changed {changed[:3]!r}"
    return f"before {before!r:.300}, after {after!r:.300}"


def check_replay_is_idempotent(
    harness: DriverHarness,
    factory: MutationFactory,
    entity_types: Sequence[str],
    snapshot: Snapshot,
) -> None:
    """Handling the same batch twice leaves the downstream as the first time left it."""
    for entity_type in entity_types:
        batch = factory.mixed_batch(entity_type)
        _succeeds(
            f"a mixed batch of {entity_type} mutations", partial(harness.handle_batch, list(batch))
        )
        first = snapshot()
        _succeeds(
            f"the same {entity_type} batch replayed", partial(harness.handle_batch, list(batch))
        )
        second = snapshot()
        if first != second:
            raise ContractViolationError(
                f"replaying a {entity_type} batch changed the downstream "
                f"({_describe_difference(first, second)}); handle_batch must be idempotent: "
                f"look the mapping up before creating"
            )


def check_mutations_left_unchanged(
    harness: DriverHarness, factory: MutationFactory, entity_types: Sequence[str]
) -> None:
    """The driver neither changes mutations nor reorders or edits the batch list it gets."""
    for entity_type in entity_types:
        batch: list[MutationData] = [
            *factory.lifecycle(entity_type),
            *factory.mixed_batch(entity_type),
        ]
        identities = [id(m) for m in batch]
        dumps = [m.model_dump() for m in batch]
        _succeeds(f"a {entity_type} batch", partial(harness.handle_batch, batch))
        if [id(m) for m in batch] != identities:
            raise ContractViolationError(
                f"handle_batch changed the {entity_type} batch list it was given"
            )
        if [m.model_dump() for m in batch] != dumps:
            raise ContractViolationError(f"handle_batch changed a {entity_type} mutation")
