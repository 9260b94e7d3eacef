"""One story per broker outage: unreachable once, a summary per interval, reachable again."""

from __future__ import annotations

import logging

import orjson
import pytest

from connector.kafka.reachability import ClusterReachability, brokers_up, quiet_connection_failure


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_is_said_once_summarised_per_interval_and_its_end_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    tracker = ClusterReachability(
        logging.getLogger("test.cluster"), summary_every_s=30, clock=clock
    )
    caplog.set_level(logging.WARNING, "test.cluster")

    assert tracker.connection_failed("refused") is False  # no outage yet: the caller reports
    tracker.unreachable("_ALL_BROKERS_DOWN")
    for _ in range(64):  # 64 s of a client failing 10 times a second
        clock.now += 1
        for _attempt in range(10):
            assert tracker.connection_failed("Connection refused") is True
    tracker.reachable()
    tracker.reachable()

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 4, messages
    assert "unreachable (_ALL_BROKERS_DOWN)" in messages[0]
    assert "still unreachable after 30 s" in messages[1]
    assert "still unreachable after 60 s" in messages[2]
    assert "reachable again after 64 s (640 connection errors meanwhile)" in messages[3]
    assert not tracker.down


def test_librdkafka_connection_failure_lines_are_recognised_and_others_kept() -> None:
    assert quiet_connection_failure(
        "FAIL", "127.0.0.1:9092/1: Connect to ipv4#127.0.0.1:9092 failed: Connection refused"
    )
    assert quiet_connection_failure(
        "FAIL", "GroupCoordinator: Disconnected: connection closed by peer"
    )
    assert not quiet_connection_failure("FAIL", "SSL handshake failed: certificate verify failed")
    assert not quiet_connection_failure("SESSTMOUT", "Consumer group session timed out")


def test_brokers_up_reads_librdkafka_statistics() -> None:
    def stats(*states: tuple[int, str]) -> bytes:
        brokers = {f"b{n}": {"nodeid": n, "state": state} for n, state in states}
        return orjson.dumps({"brokers": brokers})

    assert brokers_up(stats((1, "UP")))
    assert not brokers_up(stats((1, "DOWN"), (-1, "UP")))  # -1: a bootstrap entry
    assert not brokers_up(b"not json")


def test_client_error_log_tells_the_cluster_outage_once_and_ignores_a_partial_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from confluent_kafka import KafkaError

    from connector.kafka.clients import ClientErrorLog
    from connector.kafka.reachability import CLUSTER

    CLUSTER.reachable()  # an earlier test's clients may have left the process in an outage
    log = ClientErrorLog(logging.getLogger("test.client"))
    caplog.set_level(logging.WARNING)
    try:
        log(KafkaError(KafkaError._ALL_BROKERS_DOWN, "0/2 brokers are down"))
        down_after_partial = CLUSTER.down  # librdkafka says "0/2" while reconnecting
        log(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
        for _ in range(50):
            log(KafkaError(KafkaError._TRANSPORT, "Connect to ipv4#127.0.0.1:9 failed"))
        down_after_all = CLUSTER.down
    finally:
        CLUSTER.reachable()
    assert (down_after_partial, down_after_all) == (False, True)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in m for m in messages) == 1, messages
    assert not any("Kafka client error" in m for m in messages), messages
    assert "reachable again" in messages[-1]


def test_a_refused_connection_is_a_configuration_error_told_once_and_not_an_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from confluent_kafka import KafkaError

    from connector.kafka.clients import ClientErrorLog, LibrdkafkaLog
    from connector.kafka.errors import librdkafka_property
    from connector.kafka.reachability import CLUSTER

    CLUSTER.reachable()
    logger = logging.getLogger("test.refused")
    log = ClientErrorLog(logger, name=librdkafka_property)
    librdkafka = LibrdkafkaLog(logger)
    verify = "ssl://b:9095/bootstrap: error:0A000086:SSL routines::certificate verify failed"
    caplog.set_level(logging.INFO)
    try:
        for _ in range(20):  # librdkafka: a log line and two errors per refused attempt
            librdkafka.log(logging.ERROR, "%s [%s] %s", "FAIL", "producer-1", verify)
            log(KafkaError(KafkaError._SSL, f"SSL handshake failed: {verify}"))
            log(KafkaError(KafkaError._TRANSPORT, verify))
            log(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
        refused_down = CLUSTER.down
        refusal = log.refusal
        log(KafkaError(KafkaError._TRANSPORT, "Connect to ipv4#127.0.0.1:9 failed: refused"))
        log(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
        outage_down = CLUSTER.down
    finally:
        CLUSTER.reachable()

    assert (refused_down, outage_down) == (False, True)
    assert refusal is not None
    assert "check ssl.ca.location" in refusal
    assert log.refusal is None  # the brokers stopped answering: an outage now
    refusals = [r for r in caplog.records if "refused the connection" in r.getMessage()]
    assert [r.levelno for r in refusals] == [logging.ERROR]
    assert not any(r.getMessage().startswith("FAIL") for r in caplog.records)
