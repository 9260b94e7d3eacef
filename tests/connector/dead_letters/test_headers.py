from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from connector.codec.errors import CodecError
from connector.dead_letters.headers import (
    DeadLetter,
    DeadLetterContext,
    Failure,
    Header,
    Stage,
    dead_letter_headers,
)
from connector.failures import FailureKind, RetriesExhaustedError
from connector.kafka.records import ConsumedRecord
from connector.redaction import Redactor
from contracts import MutationData, Operation

SECRET = "tok-9f8e7d6c5b4a"
CONTEXT = DeadLetterContext(
    integration_uuid="6f1c0c8e-0000-4000-8000-000000000001",
    integration_name="shop-eu",
    consumer_group="iec-connector.6f1c0c8e-0000-4000-8000-000000000001",
    driver_type="magento2",
    driver_version="1.4.0",
)
FAILED_AT = datetime(2025, 3, 1, 12, 30, 5, 123000, tzinfo=UTC)


def _record(**overrides: object) -> ConsumedRecord:
    fields: dict[str, object] = {
        "topic": "iec.mutations.product",
        "partition": 2,
        "offset": 41,
        "key": b"e-1",
        "value": b"\x00\x01garbage",
        "headers": [("traceparent", b"00-abc-01"), ("source", b"pim")],
        "timestamp_ms": 1_700_000_000_000,
        "entity_type": "product",
    }
    fields.update(overrides)
    return ConsumedRecord(**fields)  # type: ignore[arg-type]


def _as_dict(headers: list[tuple[str, bytes]]) -> dict[str, str]:
    return {k: v.decode() for k, v in headers}


def _parse(record: ConsumedRecord, headers: list[tuple[str, bytes]]) -> DeadLetter:
    return DeadLetter.from_message(
        "iec.dead-letters.x", 0, 7, record.key, record.value, headers, record.timestamp_ms
    )


def test_decode_failure_keeps_the_original_and_adds_context() -> None:
    record = _record()
    try:
        raise CodecError("unknown-schema-id", "schema id 99 is not registered")
    except CodecError as exc:
        error = exc
    headers = dead_letter_headers(
        record, Failure(Stage.DECODE, error, failed_at=FAILED_AT), CONTEXT, Redactor()
    )

    assert headers[:2] == [("traceparent", b"00-abc-01"), ("source", b"pim")]
    h = _as_dict(headers)
    assert h[Header.ORIGIN_TOPIC] == "iec.mutations.product"
    assert h[Header.ORIGIN_PARTITION] == "2"
    assert h[Header.ORIGIN_OFFSET] == "41"
    assert h[Header.ORIGIN_TIMESTAMP] == "1700000000000"
    assert h[Header.CONSUMER_GROUP] == CONTEXT.consumer_group
    assert h[Header.INTEGRATION_UUID] == CONTEXT.integration_uuid
    assert h[Header.INTEGRATION_NAME] == "shop-eu"
    assert h[Header.DRIVER_TYPE] == "magento2"
    assert h[Header.DRIVER_VERSION] == "1.4.0"
    assert h[Header.STAGE] == "decode"
    assert h[Header.ERROR_KIND] == "permanent"
    assert h[Header.EXCEPTION_CLASS] == "connector.codec.errors.CodecError"
    assert h[Header.EXCEPTION_MESSAGE] == "unknown-schema-id: schema id 99 is not registered"
    assert "Traceback" in h[Header.EXCEPTION_STACKTRACE]
    assert h[Header.ATTEMPTS] == "1"
    assert h[Header.FAILED_AT] == "2025-03-01T12:30:05.123+00:00"
    assert h[Header.ENTITY_TYPE] == "product"
    assert Header.ENTITY_UUID not in h
    assert h[Header.CODEC_REASON] == "unknown-schema-id"
    assert h[Header.PRIOR_REPLAYS] == "0"


def test_headers_round_trip_through_the_parser() -> None:
    mutation = MutationData(entity_type="product", entity_uuid="e-1", operation=Operation.UPDATED)
    record = _record(mutation=mutation, timestamp_ms=-1)
    cet = timezone(timedelta(hours=1))
    failure = Failure(
        Stage.HANDLE,
        RetriesExhaustedError(TimeoutError("read timed out"), 10),
        failed_at=FAILED_AT.astimezone(cet),
    )
    headers = dead_letter_headers(record, failure, CONTEXT, Redactor())

    dl = _parse(record, headers)

    assert dl.ref == "iec.dead-letters.x/0/7"
    assert (dl.origin_topic, dl.origin_partition, dl.origin_offset) == (
        "iec.mutations.product",
        2,
        41,
    )
    assert dl.source == ("iec.mutations.product", 2, 41)
    assert dl.origin_timestamp_ms is None
    assert dl.stage == "handle"
    assert dl.error_kind == FailureKind.TRANSIENT
    assert dl.exception_class == "TimeoutError"
    assert dl.exception_message == "read timed out"
    assert dl.attempts == 10
    assert dl.failed_at == FAILED_AT
    assert dl.entity_type == "product"
    assert dl.entity_uuid == "e-1"
    assert dl.codec_reason is None
    assert dl.integration_uuid == CONTEXT.integration_uuid
    assert dl.driver_version == "1.4.0"
    assert dl.original_headers == [("traceparent", b"00-abc-01"), ("source", b"pim")]


def test_a_secret_in_the_exception_never_reaches_the_headers() -> None:
    class ApiError(Exception):
        pass

    def call() -> None:
        token = SECRET
        raise ApiError(f"401 Unauthorized for Bearer {token}")

    try:
        try:
            call()
        except ApiError as inner:
            raise RuntimeError(f"handle_batch failed: token={SECRET}") from inner
    except RuntimeError as exc:
        error = exc
    headers = dead_letter_headers(
        _record(), Failure(Stage.HANDLE, error, 3), CONTEXT, Redactor([SECRET])
    )

    for name, value in headers:
        assert SECRET.encode() not in value, name
    h = _as_dict(headers)
    assert h[Header.EXCEPTION_MESSAGE] == "handle_batch failed: token=***"
    assert h[Header.EXCEPTION_CAUSE_CLASS].endswith("ApiError")
    assert "Bearer ***" in h[Header.EXCEPTION_STACKTRACE]


def test_the_stack_trace_is_bounded_to_8_kib() -> None:
    error = ValueError("x" * 20_000)
    headers = dead_letter_headers(_record(), Failure(Stage.HANDLE, error), CONTEXT, Redactor())
    h = dict(headers)
    assert len(h[Header.EXCEPTION_STACKTRACE]) <= 8192
    assert len(h[Header.EXCEPTION_MESSAGE]) <= 4096


def test_a_replayed_record_failing_again_replaces_the_old_context() -> None:
    old = dead_letter_headers(
        _record(), Failure(Stage.DECODE, ValueError("old")), CONTEXT, Redactor()
    )
    replayed = _record(
        topic="iec.retry.x",
        partition=0,
        offset=3,
        headers=[
            *old,
            (Header.REPLAY_OF, b"iec.dead-letters.x/0/7"),
            (Header.REPLAY_COUNT, b"2"),
            (Header.REPLAY_ORIGIN_TOPIC, b"iec.mutations.product"),
            (Header.REPLAY_ORIGIN_PARTITION, b"2"),
            (Header.REPLAY_ORIGIN_OFFSET, b"41"),
        ],
    )

    headers = dead_letter_headers(
        replayed, Failure(Stage.HANDLE, ValueError("new")), CONTEXT, Redactor()
    )

    names = [k for k, _ in headers]
    assert names.count(Header.EXCEPTION_MESSAGE) == 1
    dl = _parse(replayed, headers)
    assert dl.exception_message == "new"
    assert dl.replay_count == 2
    assert dl.origin_topic == "iec.retry.x"
    assert dl.source == ("iec.mutations.product", 2, 41)


@pytest.mark.parametrize(
    "headers",
    [
        None,
        [],
        [(Header.ORIGIN_PARTITION, b"not-a-number"), (Header.FAILED_AT, b"yesterday")],
        [(Header.ATTEMPTS, b"\xff\xfe"), ("other", None)],
    ],
)
def test_the_parser_tolerates_foreign_or_broken_headers(
    headers: list[tuple[str, bytes | None]] | None,
) -> None:
    dl = DeadLetter.from_message("t", 0, 1, None, None, headers, -1)
    assert dl.origin_partition is None
    assert dl.failed_at is None
    assert dl.attempts is None
    assert dl.source is None
    assert dl.replay_count == 0


def test_identifier_headers_are_never_redacted_only_free_text() -> None:
    # A secret that happens to occur in the entity uuid, the topic and the integration name:
    # the identifiers stay whole (they locate the record), the message is still masked.
    secret = "6f1c0c8e"
    entity = f"{secret}-1111-4000-8000-000000000002"
    mutation = MutationData(entity_type="product", entity_uuid=entity, operation=Operation.UPDATED)
    record = _record(mutation=mutation, topic=f"iec.mutations.{secret}", offset=6_100_000)
    headers = dead_letter_headers(
        record,
        Failure(Stage.HANDLE, ValueError(f"refused key {secret}"), failed_at=FAILED_AT),
        CONTEXT,
        Redactor([secret]),
    )
    h = _as_dict(headers)
    assert h[Header.ENTITY_UUID] == entity
    assert h[Header.ORIGIN_TOPIC] == f"iec.mutations.{secret}"
    assert h[Header.INTEGRATION_UUID] == CONTEXT.integration_uuid
    assert h[Header.CONSUMER_GROUP] == CONTEXT.consumer_group
    assert h[Header.FAILED_AT] == "2025-03-01T12:30:05.123+00:00"
    assert h[Header.EXCEPTION_MESSAGE] == "refused key ***"
    assert secret not in h[Header.EXCEPTION_STACKTRACE]
