"""The dead-letter record format: context headers built from a failure, and parsed back.

A dead letter keeps the original key, value, headers and timestamp and adds UTF-8 string
headers in the `iec.dlt.` namespace, modelled on Kafka Connect's ``__connect.errors.*`` and
Spring's ``kafka_dlt-*``. The free text (exception message and stack trace) passes through
the integration's `Redactor`; identifiers, offsets, topics and timestamps never do.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from connector.codec.errors import CodecError
from connector.failures.classification import FailureKind, classify
from connector.failures.retry import RetriesExhaustedError
from connector.kafka.records import ConsumedRecord
from connector.redaction import Redactor, qualified_name

__all__ = [
    "DLT_PREFIX",
    "REPLAY_PREFIX",
    "DeadLetter",
    "DeadLetterContext",
    "Failure",
    "Header",
    "Headers",
    "Stage",
    "dead_letter_headers",
    "header_value",
    "without_prefix",
]

Headers = list[tuple[str, bytes]]

DLT_PREFIX = "iec.dlt."
REPLAY_PREFIX = "iec.replay."


class Header(StrEnum):
    """Names of the context headers."""

    ORIGIN_TOPIC = "iec.dlt.origin.topic"
    ORIGIN_PARTITION = "iec.dlt.origin.partition"
    ORIGIN_OFFSET = "iec.dlt.origin.offset"
    ORIGIN_TIMESTAMP = "iec.dlt.origin.timestamp"
    """Original record timestamp, ms since the epoch (as Spring's original-timestamp)."""
    CONSUMER_GROUP = "iec.dlt.consumer.group"
    INTEGRATION_UUID = "iec.dlt.integration.uuid"
    INTEGRATION_NAME = "iec.dlt.integration.name"
    DRIVER_TYPE = "iec.dlt.driver.type"
    DRIVER_VERSION = "iec.dlt.driver.version"
    STAGE = "iec.dlt.stage"
    ERROR_KIND = "iec.dlt.error.kind"
    """`permanent`, or `transient` when retries were exhausted."""
    EXCEPTION_CLASS = "iec.dlt.exception.class"
    EXCEPTION_CAUSE_CLASS = "iec.dlt.exception.cause.class"
    EXCEPTION_MESSAGE = "iec.dlt.exception.message"
    EXCEPTION_STACKTRACE = "iec.dlt.exception.stacktrace"
    ATTEMPTS = "iec.dlt.attempts"
    FAILED_AT = "iec.dlt.failed.at"
    ENTITY_TYPE = "iec.dlt.entity.type"
    ENTITY_UUID = "iec.dlt.entity.uuid"
    CODEC_REASON = "iec.dlt.codec.reason"
    PRIOR_REPLAYS = "iec.dlt.replay.count"
    """How often the record had been replayed before it failed this time."""

    # Added by `dead-letters replay` to the republished record (not part of a dead letter's
    # context; a replayed record that fails again carries them among its original headers).
    REPLAY_OF = "iec.replay.of"
    """``<dead-letter topic>/<partition>/<offset>`` of the dead letter that was replayed."""
    REPLAY_AT = "iec.replay.at"
    REPLAY_COUNT = "iec.replay.count"
    REPLAY_ORIGIN_TOPIC = "iec.replay.origin.topic"
    REPLAY_ORIGIN_PARTITION = "iec.replay.origin.partition"
    REPLAY_ORIGIN_OFFSET = "iec.replay.origin.offset"
    REPLAY_ORIGIN_TIMESTAMP = "iec.replay.origin.timestamp"
    """The mutation's original timestamp (the replayed record gets the replay time, so the
    retry topic's retention does not remove it at once)."""


class Stage(StrEnum):
    DECODE = "decode"
    HANDLE = "handle"


@dataclass(frozen=True, slots=True)
class DeadLetterContext:
    """What is fixed per integration."""

    integration_uuid: str
    integration_name: str
    consumer_group: str
    driver_type: str
    driver_version: str


@dataclass(frozen=True, slots=True)
class Failure:
    """Why one record is dead-lettered.

    `error` may be a `RetriesExhaustedError`: its cause is reported, with kind `transient`.
    `kind` defaults to the error's classification, unknown errors counted as permanent.
    """

    stage: Stage
    error: BaseException
    attempts: int = 1
    kind: FailureKind | None = None
    failed_at: datetime | None = None


_MAX_CAUSE_DEPTH = 8


def _codec_reason(error: BaseException) -> str | None:
    current: BaseException | None = error
    for _ in range(_MAX_CAUSE_DEPTH):
        if current is None:
            return None
        if isinstance(current, CodecError):
            return current.reason
        current = current.__cause__ or current.__context__
    return None


def header_value(headers: Iterable[tuple[str, bytes | None]] | None, name: str) -> str | None:
    """The last value of header `name` as text (None if absent or not UTF-8)."""
    found: str | None = None
    for key, value in headers or ():
        if key == name and value is not None:
            try:
                found = value.decode("utf-8")
            except UnicodeDecodeError:
                found = None
    return found


def without_prefix(headers: Iterable[tuple[str, bytes | None]] | None, *prefixes: str) -> Headers:
    """`headers` (order kept) minus those whose name starts with any of `prefixes`."""
    return [
        (k, v if v is not None else b"") for k, v in headers or () if not k.startswith(prefixes)
    ]


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def dead_letter_headers(
    record: ConsumedRecord,
    failure: Failure,
    context: DeadLetterContext,
    redactor: Redactor,
) -> Headers:
    """The full header list of the dead letter for `record`.

    1. Unwrap a `RetriesExhaustedError` to report its cause, kind `transient`.
    2. Drop previous `iec.dlt.*` headers (a replayed record failing again) from the
       original headers, keep the others in their order, carry the replay count over.
    3. Append the context headers, free text redacted and bounded.
    """
    # 1. the error that is reported
    error, attempts, kind = failure.error, failure.attempts, failure.kind
    if isinstance(error, RetriesExhaustedError):
        attempts = max(attempts, error.attempts)
        error = error.last_error
        kind = kind or FailureKind.TRANSIENT
    kind = kind or classify(error, "permanent")
    cls, message, stack = redactor.redact_exception(error)
    cause = error.__cause__
    failed_at = (failure.failed_at or datetime.now(UTC)).astimezone(UTC)

    # 2. original headers
    original = without_prefix(record.headers, DLT_PREFIX)
    replays = _int(header_value(record.headers, Header.REPLAY_COUNT)) or 0

    # 3. context
    mutation = record.mutation
    entity_type = mutation.entity_type if mutation is not None else record.entity_type
    context_headers: list[tuple[Header, str | None]] = [
        (Header.ORIGIN_TOPIC, record.topic),
        (Header.ORIGIN_PARTITION, str(record.partition)),
        (Header.ORIGIN_OFFSET, str(record.offset)),
        (Header.ORIGIN_TIMESTAMP, str(record.timestamp_ms) if record.timestamp_ms >= 0 else None),
        (Header.CONSUMER_GROUP, context.consumer_group),
        (Header.INTEGRATION_UUID, context.integration_uuid),
        (Header.INTEGRATION_NAME, context.integration_name),
        (Header.DRIVER_TYPE, context.driver_type),
        (Header.DRIVER_VERSION, context.driver_version),
        (Header.STAGE, failure.stage.value),
        (Header.ERROR_KIND, kind.value),
        (Header.EXCEPTION_CLASS, cls),
        (Header.EXCEPTION_CAUSE_CLASS, qualified_name(type(cause)) if cause is not None else None),
        (Header.EXCEPTION_MESSAGE, message),
        (Header.EXCEPTION_STACKTRACE, stack),
        (Header.ATTEMPTS, str(attempts)),
        (Header.FAILED_AT, failed_at.isoformat(timespec="milliseconds")),
        (Header.ENTITY_TYPE, entity_type or None),
        (Header.ENTITY_UUID, mutation.entity_uuid if mutation is not None else None),
        (Header.CODEC_REASON, _codec_reason(error)),
        (Header.PRIOR_REPLAYS, str(replays)),
    ]
    # Only the free text (message, stack) was redacted above: identifiers, offsets, topics
    # and timestamps stay exactly as they are, or a short secret could rewrite a uuid.
    return original + [
        (name.value, value.encode("utf-8")) for name, value in context_headers if value is not None
    ]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead-letter record read back from its topic (tolerant: missing headers are None)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()
    """All headers as stored."""
    origin_topic: str | None = None
    origin_partition: int | None = None
    origin_offset: int | None = None
    origin_timestamp_ms: int | None = None
    consumer_group: str | None = None
    integration_uuid: str | None = None
    integration_name: str | None = None
    driver_type: str | None = None
    driver_version: str | None = None
    stage: str | None = None
    error_kind: str | None = None
    exception_class: str | None = None
    exception_cause_class: str | None = None
    exception_message: str | None = None
    stacktrace: str | None = None
    attempts: int | None = None
    failed_at: datetime | None = None
    entity_type: str | None = None
    entity_uuid: str | None = None
    codec_reason: str | None = None
    replay_count: int = 0
    source: tuple[str, int, int] | None = field(default=None)
    """(topic, partition, offset) of the mutation the failure started from: the replay origin
    of a replayed record that failed again, else the origin."""

    @property
    def ref(self) -> str:
        """``topic/partition/offset`` of this dead letter (the value of `iec.replay.of`)."""
        return f"{self.topic}/{self.partition}/{self.offset}"

    @property
    def original_headers(self) -> Headers:
        """The record's own headers, without the dead-letter context."""
        return without_prefix(self.headers, DLT_PREFIX)

    @classmethod
    def from_message(
        cls,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]] | None,
        timestamp_ms: int,
    ) -> DeadLetter:
        stored = tuple((k, v if v is not None else b"") for k, v in headers or ())

        def text(name: Header) -> str | None:
            return header_value(stored, name)

        failed_at: datetime | None
        try:
            raw = text(Header.FAILED_AT)
            failed_at = datetime.fromisoformat(raw) if raw else None
        except ValueError:
            failed_at = None
        if failed_at is not None and failed_at.tzinfo is None:
            failed_at = failed_at.replace(tzinfo=UTC)
        origin = (
            text(Header.ORIGIN_TOPIC),
            _int(text(Header.ORIGIN_PARTITION)),
            _int(text(Header.ORIGIN_OFFSET)),
        )
        replay_origin = (
            text(Header.REPLAY_ORIGIN_TOPIC),
            _int(text(Header.REPLAY_ORIGIN_PARTITION)),
            _int(text(Header.REPLAY_ORIGIN_OFFSET)),
        )
        source: tuple[str, int, int] | None = None
        for t, p, o in (replay_origin, origin):
            if t is not None and p is not None and o is not None:
                source = (t, p, o)
                break
        return cls(
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            value=value,
            timestamp_ms=timestamp_ms,
            headers=stored,
            origin_topic=origin[0],
            origin_partition=origin[1],
            origin_offset=origin[2],
            origin_timestamp_ms=_int(text(Header.ORIGIN_TIMESTAMP)),
            consumer_group=text(Header.CONSUMER_GROUP),
            integration_uuid=text(Header.INTEGRATION_UUID),
            integration_name=text(Header.INTEGRATION_NAME),
            driver_type=text(Header.DRIVER_TYPE),
            driver_version=text(Header.DRIVER_VERSION),
            stage=text(Header.STAGE),
            error_kind=text(Header.ERROR_KIND),
            exception_class=text(Header.EXCEPTION_CLASS),
            exception_cause_class=text(Header.EXCEPTION_CAUSE_CLASS),
            exception_message=text(Header.EXCEPTION_MESSAGE),
            stacktrace=text(Header.EXCEPTION_STACKTRACE),
            attempts=_int(text(Header.ATTEMPTS)),
            failed_at=failed_at,
            entity_type=text(Header.ENTITY_TYPE),
            entity_uuid=text(Header.ENTITY_UUID),
            codec_reason=text(Header.CODEC_REASON),
            replay_count=_int(text(Header.PRIOR_REPLAYS)) or 0,
            source=source,
        )
