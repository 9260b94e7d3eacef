"""A publisher the broker refuses (TLS, SASL) through the local broker's listeners: the error
names the librdkafka property to fix, the log tells it in a line instead of a flood and
without calling it an outage, and leaving the `with` block does not wait for
`message.timeout.ms`."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from connector import local_kafka
from connector.kafka.reachability import CLUSTER
from connector.publisher import MutationPublisher, PublishError
from connector.topics import TopicSettings
from contracts import ConfigurationError, MutationData

pytestmark = pytest.mark.kafka

# librdkafka ignores it for an unencrypted key; it must not show anywhere either way.
KEY_PASSWORD = "publisher-key-password-must-not-leak-5d1e"
# Without a bounded exit, closing would wait this long for the queued record.
MESSAGE_TIMEOUT_MS = 60_000


def refused_config(
    case: str, tls: local_kafka.TlsEndpoint, tmp_path: Path
) -> tuple[str, dict[str, Any], str]:
    """(bootstrap, librdkafka config, the property the error must name) of one refusal."""
    if case == "wrong CA":
        ca = local_kafka.make_ca(tmp_path / "other-ca")
        config = {"security.protocol": "SSL", "ssl.ca.location": str(ca)}
        return tls.bootstrap, config, "ssl.ca.location"
    config = {"security.protocol": "SSL", "ssl.ca.location": str(tls.ca_location)}
    return tls.mtls_bootstrap, config, "ssl.certificate.location"


def mutation() -> MutationData:
    return MutationData(entity_type="product", entity_uuid="p-1", operation="created")


def publish_flush_and_leave(publisher: MutationPublisher, flushed: list[PublishError]) -> None:
    """Publish one record in a `with` block and flush for 4 s (what it raised goes to
    `flushed`); leaving the block raises what is not delivered."""
    with publisher:
        publisher.publish(mutation())
        with pytest.raises(PublishError) as raised:
            publisher.flush(timeout=4)
        flushed.append(raised.value)


@pytest.mark.parametrize("case", ["wrong CA", "no client certificate"])
def test_a_refused_publisher_names_the_property_in_one_log_line_and_exits_promptly(
    case: str,
    kafka_tls: local_kafka.TlsEndpoint,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bootstrap, config, prop = refused_config(case, kafka_tls, tmp_path)
    config |= {"ssl.key.password": KEY_PASSWORD, "message.timeout.ms": MESSAGE_TIMEOUT_MS}
    topics = TopicSettings(mutation_prefix="refused.mutations")
    caplog.set_level(logging.INFO)
    CLUSTER.reachable()  # an earlier test may have left the process in an outage

    started = time.monotonic()
    flushed: list[PublishError] = []
    with pytest.raises(PublishError) as raised:  # by leaving the block: it is under test too
        publish_flush_and_leave(MutationPublisher(bootstrap, topics=topics, config=config), flushed)
    elapsed = time.monotonic() - started

    for error in (*flushed, raised.value):
        assert error.refusal is not None
        assert f"check {prop}" in error.refusal
        assert f"check {prop}" in str(error)
    (failure,) = raised.value.failures  # given up at the exit, not held for the timeout
    assert "_PURGE_" in failure.error
    assert elapsed < MESSAGE_TIMEOUT_MS / 1000 / 3, elapsed
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    refusals = [r for r in lines if "refused the connection" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in lines]
    assert refusals[0].levelno == logging.ERROR
    assert f"check {prop}" in refusals[0].getMessage()
    assert len(lines) <= 3, [r.getMessage() for r in lines]  # the refusal, the give-up, ...
    assert not any(r.getMessage().startswith("FAIL") for r in lines)  # no librdkafka flood
    assert not any("unreachable" in r.getMessage() for r in caplog.records)
    assert not CLUSTER.down
    assert KEY_PASSWORD not in caplog.text + str(raised.value) + str(flushed)


@pytest.mark.parametrize("case", ["wrong CA", "no client certificate"])
def test_check_connection_refuses_at_once_naming_the_property(
    case: str, kafka_tls: local_kafka.TlsEndpoint, tmp_path: Path
) -> None:
    bootstrap, config, prop = refused_config(case, kafka_tls, tmp_path)
    publisher = MutationPublisher(bootstrap, config={**config, "ssl.key.password": KEY_PASSWORD})

    started = time.monotonic()
    with pytest.raises(ConfigurationError) as refused:
        publisher.check_connection(timeout_s=30)
    elapsed = time.monotonic() - started
    publisher.close(timeout=0)

    assert f"check {prop}" in str(refused.value)
    assert "kafka.ssl" not in str(refused.value)  # SDK users set librdkafka properties
    assert KEY_PASSWORD not in str(refused.value)
    assert elapsed < 30 / 3, elapsed  # refused, not waited out


def test_check_connection_passes_for_a_publisher_the_broker_accepts(
    kafka_tls: local_kafka.TlsEndpoint,
) -> None:
    config = kafka_tls.client_config(mtls=True)
    bootstrap = config.pop("bootstrap.servers")
    publisher = MutationPublisher(bootstrap, config=config)

    publisher.check_connection(timeout_s=30)
    publisher.close(timeout=0)
