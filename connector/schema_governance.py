"""Schema governance in a Confluent-compatible registry: the shipped MutationData schemas under
each mutation topic's subject, the subject's compatibility rule, and candidate checks.

The rule is `FULL_TRANSITIVE` (schemas/EVOLUTION.md): producers and consumers deploy
independently and topics keep old records (retention, dead letters, replays), so a new
schema must be readable by every older reader (forward) and read every older record
(backward), against *all* earlier versions, not only the latest. `BACKWARD_TRANSITIVE` would
let a producer ship a schema that consumers still on the previous release cannot read.

Registry calls go through confluent-kafka's `SchemaRegistryClient`, except the verbose
compatibility test: that client returns only a boolean, and `schemas check` must print the
registry's reason, so `explain_compatibility` posts to the documented
`/compatibility/subjects/{subject}/versions?verbose=true` with httpx (Confluent answers
`messages`, Apicurio `reason`). That endpoint, without a version, runs the check `register`
runs: under a transitive rule against every registered version. (`.../versions/latest` checks
against the latest one only, so it would pass a candidate that only an older version refuses,
which `register` and producers are then refused.) Every call has the settings' timeout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any
from urllib.parse import quote

import httpx
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from fastavro import parse_schema

from connector.config import SchemaRegistrySettings
from schemas import schema_text

__all__ = [
    "COMPATIBILITY",
    "CompatibilityVerdict",
    "RegistryRequestError",
    "SubjectRegistration",
    "check_candidate",
    "explain_compatibility",
    "parse_candidate",
    "register_shipped",
    "shipped_mutation_schemas",
    "subject_of",
]

COMPATIBILITY = "FULL_TRANSITIVE"
_SCHEMA = "mutation_data"
_HISTORY = re.compile(rf"^{_SCHEMA}\.v(\d+)\.avsc$")
_MAX_REASON = 2_000


class RegistryRequestError(RuntimeError):
    """The registry could not be reached or refused a request; the message says which."""

    def __init__(self, message: str, *, refused: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.refused = refused
        """True when the registry answered no (e.g. HTTP 409 incompatible), not an outage."""
        self.status = status
        """The registry's HTTP status, if it answered (401/403: credentials refused)."""


@dataclass(frozen=True)
class SubjectRegistration:
    """A subject after `register_shipped`: the latest version holds the current schema."""

    subject: str
    schema_id: int
    version: int
    versions_registered: int
    compatibility: str
    previous_compatibility: str | None


@dataclass(frozen=True)
class CompatibilityVerdict:
    """The registry's answer for one subject; `reason` says why not (or that it is new)."""

    subject: str
    compatible: bool
    reason: str | None = None


def subject_of(topic: str) -> str:
    """The value subject of a topic (TopicNameStrategy, what the codec registers under)."""
    return f"{topic}-value"


def shipped_mutation_schemas() -> list[tuple[str, str]]:
    """(label, text) of every released MutationData schema, oldest first, the current last."""
    history = files("schemas").joinpath("history")
    released = []
    for entry in history.iterdir():
        match = _HISTORY.match(entry.name)
        if match:
            released.append((int(match[1]), entry.name, entry.read_text("utf-8")))
    ordered = [(name.removesuffix(".avsc"), text) for _, name, text in sorted(released)]
    return [*ordered, (f"{_SCHEMA} (current)", schema_text(_SCHEMA))]


def _failure(exc: Exception, what: str) -> RegistryRequestError:
    status = getattr(exc, "http_status_code", None)
    message = getattr(exc, "error_message", None) or str(exc)
    refused = status is not None and 400 <= status < 500
    detail = f"HTTP {status}: {message}" if status is not None else f"{type(exc).__name__}: {exc}"
    return RegistryRequestError(f"{what}: {detail}"[:_MAX_REASON], refused=refused, status=status)


def _compatibility_or_none(client: SchemaRegistryClient, subject: str) -> str | None:
    try:
        return str(client.get_compatibility(subject))
    except Exception as exc:
        if getattr(exc, "http_status_code", None) == 404:
            return None  # no subject-level rule yet (the global default applies)
        raise _failure(exc, f"reading the compatibility of {subject}") from exc


def register_shipped(
    client: SchemaRegistryClient, subjects: Sequence[str], level: str = COMPATIBILITY
) -> list[SubjectRegistration]:
    """Give each subject the compatibility `level` and the shipped schemas, in release order.

    1. Read the subject's rule, then set `level` before registering anything, so the
       registry checks every shipped version against the ones before it.
    2. Register each released version, then the current one (a schema the subject already
       has keeps its id and version: the step is idempotent).
    3. Read back the latest version: it must be the current schema's id.
    Raises `RegistryRequestError` (`refused` when the registry rejects a version as incompatible).
    """
    shipped = shipped_mutation_schemas()
    results = []
    for subject in subjects:
        # 1. The rule first.
        previous = _compatibility_or_none(client, subject)
        try:
            client.set_compatibility(subject, level)
        except Exception as exc:
            raise _failure(exc, f"setting {level} on {subject}") from exc
        # 2. Every shipped version, oldest first.
        schema_id = -1
        for label, text in shipped:
            try:
                schema_id = client.register_schema(subject, Schema(text, "AVRO"))
            except Exception as exc:
                raise _failure(exc, f"registering {label} under {subject}") from exc
        # 3. Read back.
        try:
            latest = client.get_latest_version(subject)
        except Exception as exc:
            raise _failure(exc, f"reading back {subject}") from exc
        results.append(
            SubjectRegistration(
                subject=subject,
                schema_id=schema_id,
                version=int(latest.version or 0),
                versions_registered=len(shipped),
                compatibility=level,
                previous_compatibility=previous,
            )
        )
    return results


def parse_candidate(text: str) -> str:
    """The candidate schema's text if it is a valid Avro schema; ValueError says what is not."""
    try:
        parsed: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    try:
        parse_schema(parsed)
    except Exception as exc:  # fastavro raises SchemaParseException, KeyError, TypeError, ...
        raise ValueError(f"not a valid Avro schema: {type(exc).__name__}: {exc}") from None
    return text


def _reason_of(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    messages = body.get("messages")  # Confluent Schema Registry
    if isinstance(messages, list) and messages:
        return "; ".join(str(message) for message in messages)
    for key in ("reason", "message"):  # Apicurio's ccompat API; an error body
        if isinstance(body.get(key), str) and body[key]:
            return str(body[key])
    return None


def explain_compatibility(
    settings: SchemaRegistrySettings, subject: str, candidate: str
) -> CompatibilityVerdict:
    """Ask the registry whether `candidate` may follow `subject`'s versions, with its reason.

    The registry applies the subject's rule as on registration: with `FULL_TRANSITIVE` the
    candidate is checked against every registered version, not only the latest. A subject
    with no versions accepts anything (nothing to be compatible with): compatible, with a
    reason saying so. Raises `RegistryRequestError` when the registry cannot answer.
    """
    base = settings.url.split(",")[0].strip().rstrip("/")
    # No version in the path: the registry checks as `register` would (all versions when
    # the rule is transitive); `/versions/latest` would check the latest one only.
    url = f"{base}/compatibility/subjects/{quote(subject, safe='')}/versions"
    auth = None
    if settings.basic_auth_user is not None and settings.basic_auth_password is not None:
        auth = (settings.basic_auth_user, settings.basic_auth_password.get_secret_value())
    try:
        response = httpx.post(
            url,
            params={"verbose": "true"},
            json={"schema": candidate, "schemaType": "AVRO"},
            headers={"Accept": "application/vnd.schemaregistry.v1+json, application/json"},
            auth=auth,
            verify=settings.ssl_ca_location or True,
            timeout=settings.timeout_s,
        )
    except httpx.HTTPError as exc:
        raise RegistryRequestError(
            f"checking {subject}: the registry did not answer ({type(exc).__name__})"
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 404:
        return CompatibilityVerdict(subject, True, "no versions registered yet: nothing to break")
    if response.status_code != 200 or not isinstance(body, dict) or "is_compatible" not in body:
        detail = _reason_of(body) or response.text[:500]
        raise RegistryRequestError(
            f"checking {subject}: HTTP {response.status_code}: {detail}"[:_MAX_REASON],
            refused=400 <= response.status_code < 500,
            status=response.status_code,
        )
    compatible = bool(body["is_compatible"])
    reason = None if compatible else (_reason_of(body) or "the registry gave no reason")
    return CompatibilityVerdict(subject, compatible, reason)


def check_candidate(
    settings: SchemaRegistrySettings, subjects: Sequence[str], candidate: str
) -> list[CompatibilityVerdict]:
    """`explain_compatibility` for every subject (the candidate must follow all of them)."""
    return [explain_compatibility(settings, subject, candidate) for subject in subjects]
