from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.dead_letters.headers import DeadLetter, Header
from connector.dead_letters.replay_plan import (
    Reason,
    ReplayFilter,
    SupersedeFacts,
    plan_replay,
    replay_headers,
    retry_topic_problem,
    superseded_by,
)

INTEGRATION = "int-1"
DLQ = "iec.dead-letters.int-1"
ORIGIN = "iec.mutations.product"


def _dl(
    offset: int,
    origin_offset: int | None,
    *,
    key: bytes | None = b"e-1",
    failed_at: str = "2025-03-01T10:00:00.000+00:00",
    extra: list[tuple[str, bytes]] | None = None,
    **fields: str,
) -> DeadLetter:
    headers: list[tuple[str, bytes | None]] = [("traceparent", b"00-abc")]
    headers += extra or []
    if origin_offset is not None:
        headers += [
            (Header.ORIGIN_TOPIC, ORIGIN.encode()),
            (Header.ORIGIN_PARTITION, b"0"),
            (Header.ORIGIN_OFFSET, str(origin_offset).encode()),
            (Header.ORIGIN_TIMESTAMP, b"1700000000000"),
        ]
    values = {
        Header.INTEGRATION_UUID: INTEGRATION,
        Header.STAGE: "handle",
        Header.ENTITY_TYPE: "product",
        Header.EXCEPTION_CLASS: "httpx.HTTPStatusError",
        Header.FAILED_AT: failed_at,
    }
    values.update({Header(f"iec.dlt.{k.replace('_', '.')}"): v for k, v in fields.items()})
    headers += [(str(k), v.encode()) for k, v in values.items()]
    return DeadLetter.from_message(DLQ, 0, offset, key, b"value", headers, 1_700_000_000_000)


@pytest.mark.parametrize(
    ("selection", "selected"),
    [
        (ReplayFilter(INTEGRATION), True),
        (ReplayFilter("int-2"), False),
        (ReplayFilter(INTEGRATION, since=datetime(2025, 3, 1, 10, tzinfo=UTC)), True),
        (ReplayFilter(INTEGRATION, since=datetime(2025, 3, 1, 10, 0, 1, tzinfo=UTC)), False),
        (ReplayFilter(INTEGRATION, until=datetime(2025, 3, 1, 10, tzinfo=UTC)), False),
        (ReplayFilter(INTEGRATION, until=datetime(2025, 3, 2)), True),  # naive = UTC
        (ReplayFilter(INTEGRATION, entity_type="product"), True),
        (ReplayFilter(INTEGRATION, entity_type="category"), False),
        (ReplayFilter(INTEGRATION, stage="handle"), True),
        (ReplayFilter(INTEGRATION, stage="decode"), False),
        (ReplayFilter(INTEGRATION, error_class="HTTPStatusError"), True),
        (ReplayFilter(INTEGRATION, error_class="httpx.HTTPStatusError"), True),
        (ReplayFilter(INTEGRATION, error_class="ValueError"), False),
    ],
)
def test_filters_select_by_integration_time_entity_type_stage_and_error_class(
    selection: ReplayFilter, selected: bool
) -> None:
    assert selection.matches(_dl(0, 5)) is selected


def test_a_time_filter_excludes_dead_letters_without_failure_time() -> None:
    dl = _dl(0, 5, failed_at="")
    assert ReplayFilter(INTEGRATION).matches(dl)
    assert not ReplayFilter(INTEGRATION, since=datetime(2000, 1, 1, tzinfo=UTC)).matches(dl)


def _facts(committed: int, newer: list[int], dead_lettered: tuple[int, ...] = ()) -> SupersedeFacts:
    return SupersedeFacts(
        committed={(ORIGIN, 0): committed},
        newer={(ORIGIN, 0): {b"e-1": newer}},
        dead_lettered=frozenset((ORIGIN, 0, o) for o in dead_lettered),
    )


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (_facts(committed=20, newer=[12]), 12),  # newer mutation handled
        (_facts(committed=12, newer=[12]), None),  # newer one not yet committed
        (_facts(committed=20, newer=[3, 10]), None),  # only older ones (and itself)
        (_facts(committed=20, newer=[12], dead_lettered=(12,)), None),  # newer one failed too
        (_facts(committed=20, newer=[12, 15], dead_lettered=(12,)), 15),
        (SupersedeFacts(newer={(ORIGIN, 0): {b"e-1": [12]}}), None),  # nothing committed
    ],
)
def test_superseded_means_a_newer_handled_record_of_the_same_key(
    facts: SupersedeFacts, expected: int | None
) -> None:
    assert superseded_by(_dl(0, 10), facts) == expected


def test_other_keys_and_missing_keys_are_never_superseded() -> None:
    facts = _facts(committed=20, newer=[12])
    assert superseded_by(_dl(0, 10, key=b"e-2"), facts) is None
    assert superseded_by(_dl(0, 10, key=None), facts) is None


def test_plan_skips_superseded_and_already_replayed_and_orders_by_origin() -> None:
    letters = [
        _dl(0, 10),  # superseded by 12
        _dl(1, 30, key=b"e-3"),  # replayed before
        _dl(2, 25, key=b"e-2"),
        _dl(3, 21, key=b"e-2"),
        _dl(4, None),  # no origin
        _dl(5, 40, stage="decode"),  # filtered out by stage
    ]
    facts = _facts(committed=50, newer=[10, 12])
    replayed = {f"{DLQ}/0/1": "iec.retry.int-1/0/0"}

    plan = plan_replay(letters, ReplayFilter(INTEGRATION, stage="handle"), facts, replayed)

    assert [(d.dead_letter.offset, d.reason, d.replay) for d in plan] == [
        (4, Reason.NO_ORIGIN, False),
        (0, Reason.SUPERSEDED, False),
        (3, Reason.REPLAY, True),
        (2, Reason.REPLAY, True),
        (1, Reason.ALREADY_REPLAYED, False),
    ]
    assert plan[1].detail == f"{ORIGIN}/0/12 has the same key"
    assert plan[4].detail == "as iec.retry.int-1/0/0"


def test_overrides_replay_superseded_and_already_replayed_ones() -> None:
    letters = [_dl(0, 10), _dl(1, 30, key=b"e-3"), _dl(4, None)]
    facts = _facts(committed=50, newer=[12])
    replayed = {f"{DLQ}/0/1": "iec.retry.int-1/0/0"}

    plan = plan_replay(
        letters, ReplayFilter(INTEGRATION), facts, replayed, include_superseded=True, force=True
    )

    assert {d.dead_letter.offset: d.reason for d in plan} == {
        0: Reason.INCLUDED,
        1: Reason.FORCED,
        4: Reason.INCLUDED,
    }
    assert all(d.replay for d in plan)


def test_replay_headers_keep_the_original_ones_and_point_back() -> None:
    dl = _dl(7, 10, extra=[(Header.REPLAY_COUNT, b"1"), (Header.REPLAY_OF, b"old")])
    # the dead letter of a record replayed once: its replay count came along
    dl = DeadLetter.from_message(
        dl.topic, dl.partition, dl.offset, dl.key, dl.value,
        [*dl.headers, (Header.PRIOR_REPLAYS, b"1")], dl.timestamp_ms,
    )  # fmt: skip

    headers = replay_headers(dl, datetime(2025, 3, 2, 8, 0, tzinfo=UTC))

    assert headers == [
        ("traceparent", b"00-abc"),
        ("iec.replay.of", b"iec.dead-letters.int-1/0/7"),
        ("iec.replay.at", b"2025-03-02T08:00:00.000+00:00"),
        ("iec.replay.count", b"2"),
        ("iec.replay.origin.topic", ORIGIN.encode()),
        ("iec.replay.origin.partition", b"0"),
        ("iec.replay.origin.offset", b"10"),
        ("iec.replay.origin.timestamp", b"1700000000000"),
    ]


def test_a_replay_of_a_replay_keeps_pointing_at_the_first_origin() -> None:
    dl = _dl(
        9,
        None,
        extra=[
            (Header.REPLAY_ORIGIN_TOPIC, ORIGIN.encode()),
            (Header.REPLAY_ORIGIN_PARTITION, b"0"),
            (Header.REPLAY_ORIGIN_OFFSET, b"10"),
            (Header.REPLAY_ORIGIN_TIMESTAMP, b"1600000000000"),
            (Header.ORIGIN_TOPIC, b"iec.retry.int-1"),
            (Header.ORIGIN_PARTITION, b"0"),
            (Header.ORIGIN_OFFSET, b"3"),
            (Header.ORIGIN_TIMESTAMP, b"1800000000000"),
        ],
    )
    h = dict(replay_headers(dl, datetime(2025, 3, 2, tzinfo=UTC)))
    assert h["iec.replay.origin.topic"] == ORIGIN.encode()
    assert h["iec.replay.origin.offset"] == b"10"
    assert h["iec.replay.origin.timestamp"] == b"1600000000000"


# -- the replay target ----------------------------------------------------------------------

UUID = "6f1d1c2e-61c4-4b0e-9d55-5a3c2f0e8a10"
OTHERS = {f"iec.mappings.{UUID}", f"iec.dead-letters.{UUID}", f"iec.mutations.{UUID}"}


@pytest.mark.parametrize(
    ("topic", "policy", "expected"),
    [
        (f"iec.retry.{UUID}", "delete", None),
        (f"iec.retry.{UUID}", "compact", "cleanup.policy=compact"),
        (f"iec.retry.{UUID}", "compact,delete", "never compacted"),
        (f"iec.retry.{UUID}", None, "does not exist"),
        (f"iec.mappings.{UUID}", "compact", "another topic of integration"),
        (f"iec.dead-letters.{UUID}", "delete", "another topic of integration"),
        ("iec.retry.some-other-integration", "delete", "not a retry topic"),
    ],
)
def test_replays_go_only_to_the_integrations_retry_topic(
    topic: str, policy: str | None, expected: str | None
) -> None:
    problem = retry_topic_problem(topic, UUID, other_topics=OTHERS, cleanup_policy=policy)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None
        assert expected in problem
        assert "--retry-prefix" in problem
