"""`iec-connector demo` without a broker: a clear failure, not a hang or a traceback."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import Result

RunDemo = Callable[..., Result]


def test_demo_against_a_remote_address_without_a_broker_fails_with_the_reason(
    run_demo: RunDemo,
) -> None:
    # TEST-NET-1 (RFC 5737): never routed, and not local, so no broker is started for it.
    result = run_demo("--bootstrap-servers", "192.0.2.1:9092")

    assert result.exit_code == 1
    assert "no Kafka broker answers at 192.0.2.1:9092" in result.output
    assert "Traceback" not in result.output
