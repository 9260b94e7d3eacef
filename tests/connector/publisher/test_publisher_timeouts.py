"""Waits that run out: nothing is lost silently when no broker answers."""

from __future__ import annotations

import socket

import pytest

from connector.publisher import MutationPublisher, PublishError
from contracts import MutationData


@pytest.fixture
def no_broker() -> str:
    """A bootstrap address where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def mutation() -> MutationData:
    return MutationData(entity_type="product", entity_uuid="p-1", operation="created")


def test_flush_that_times_out_counts_the_unacknowledged(no_broker: str) -> None:
    publisher = MutationPublisher(no_broker)
    future = publisher.publish(mutation())

    with pytest.raises(PublishError) as caught:
        publisher.flush(timeout=0.3)

    assert caught.value.undelivered == 1
    assert caught.value.failures == ()
    assert not future.done()
    with pytest.raises(PublishError):  # the record is given up at close
        publisher.close(timeout=0)


def test_close_gives_up_on_unacknowledged_records_and_reports_them(no_broker: str) -> None:
    publisher = MutationPublisher(no_broker)
    future = publisher.publish(mutation())

    with pytest.raises(PublishError) as caught:
        publisher.close(timeout=0.3)

    (failure,) = caught.value.failures
    assert failure.entity_uuid == "p-1"
    assert "_PURGE_" in failure.error
    with pytest.raises(PublishError):
        future.result(timeout=0)


def test_publish_and_wait_timeout_hands_the_later_failure_to_flush(no_broker: str) -> None:
    publisher = MutationPublisher(no_broker, config={"message.timeout.ms": 1000})

    with pytest.raises(TimeoutError):
        publisher.publish_and_wait(mutation(), timeout=0.2)
    with pytest.raises(PublishError) as caught:
        publisher.flush(timeout=20)
    publisher.close()

    (failure,) = caught.value.failures
    assert failure.entity_uuid == "p-1"
    assert "_MSG_TIMED_OUT" in failure.error
