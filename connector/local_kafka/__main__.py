"""`python -m connector.local_kafka up|down|status|logs`: manage the local Kafka broker.

`up` and `status` print the listeners, users and certificate paths; `up` ends with
`NAME=value` lines (KAFKA_BOOTSTRAP_SERVERS, KAFKA_SSL_CA_LOCATION, ...) a script can export.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from pathlib import Path

from .launcher import BrokerStatus, LocalKafkaError, ensure_running, log_path, running_broker, stop
from .probe import broker_answers
from .registry import (
    DEFAULT_REGISTRY_PORT,
    ensure_registry,
    registry_answers,
    registry_log_path,
    running_registry,
    stop_registry,
)
from .settings import (
    DEFAULT_MTLS_PORT,
    DEFAULT_PORT,
    DEFAULT_SASL_PORT,
    DEFAULT_SSL_PORT,
    RUNTIME_PASSWORD_ENV,
    SCRAM_MECHANISMS,
    SCRAM_PASSWORD_ENV,
    default_scram_users,
)

__all__ = ["main"]


def _tail(path: Path, lines: int) -> list[str]:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return list(deque(handle, maxlen=lines))
    except OSError:
        return []


def _environment(broker: BrokerStatus) -> list[str]:
    """`NAME=value` lines a shell or CI can export; the tests' fixtures read the same names."""
    lines = [f"KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap}"]
    if broker.sasl_bootstrap is not None:
        lines.append(f"KAFKA_SASL_BOOTSTRAP_SERVERS={broker.sasl_bootstrap}")
    if broker.ssl_bootstrap is not None:
        lines.append(f"KAFKA_SSL_BOOTSTRAP_SERVERS={broker.ssl_bootstrap}")
    if broker.mtls_bootstrap is not None:
        lines.append(f"KAFKA_MTLS_BOOTSTRAP_SERVERS={broker.mtls_bootstrap}")
    if broker.tls is not None:
        lines += [
            f"KAFKA_SSL_CA_LOCATION={broker.tls.ca}",
            f"KAFKA_SSL_CERTIFICATE_LOCATION={broker.tls.client_certificate}",
            f"KAFKA_SSL_KEY_LOCATION={broker.tls.client_key}",
        ]
    return lines


def _describe(broker: BrokerStatus) -> list[str]:
    connector, runtime = default_scram_users()
    mechanisms = "/".join(SCRAM_MECHANISMS)
    rows = [
        ("bootstrap", broker.bootstrap),
        ("sasl bootstrap", broker.sasl_bootstrap or "-"),
    ]
    if broker.sasl_bootstrap is not None:
        rows += [
            ("scram users", f"{connector.username}: super user, password ${SCRAM_PASSWORD_ENV}"),
            ("", f"{runtime.username}: no ACLs, password ${RUNTIME_PASSWORD_ENV} ({mechanisms})"),
        ]
    rows += [
        ("ssl bootstrap", broker.ssl_bootstrap or "-"),
        ("mtls bootstrap", f"{broker.mtls_bootstrap} (client certificate required)"
         if broker.mtls_bootstrap else "-"),
    ]  # fmt: skip
    if broker.tls is not None:
        rows += [
            ("ca", str(broker.tls.ca)),
            ("client cert", str(broker.tls.client_certificate)),
            ("client key", str(broker.tls.client_key)),
        ]
    rows.append(("authorizer", "StandardAuthorizer" if broker.authorizer else "off"))
    return [f"  {name:<15}{value}" for name, value in rows]


def _report_failure(error: LocalKafkaError) -> int:
    print(f"local-kafka: {error}", file=sys.stderr)
    if error.log is not None:
        tail = _tail(error.log, 30)
        if tail:
            print(f"--- last lines of {error.log} ---", file=sys.stderr)
            sys.stderr.writelines(tail)
        print(f"log: {error.log}", file=sys.stderr)
    return 1


def _up(args: argparse.Namespace) -> int:
    sasl_port = None if args.no_sasl else args.sasl_port
    try:
        bootstrap = ensure_running(
            args.port,
            sasl_port=sasl_port,
            ssl_port=None if args.no_ssl else args.ssl_port,
            mtls_port=None if args.no_ssl else args.mtls_port,
            authorizer=not args.no_authorizer,
            controller_port=args.controller_port,
            fresh=args.fresh,
            timeout=args.timeout,
            echo=True,
        )
        registry_url = (
            ensure_registry(args.registry_port, timeout=max(args.timeout, 180.0), echo=True)
            if args.registry
            else None
        )
    except LocalKafkaError as error:
        return _report_failure(error)
    broker = running_broker()
    # someone else's broker may answer on the port
    lines = [f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}"] if broker is None else _environment(broker)
    if registry_url is not None:
        lines.append(f"SCHEMA_REGISTRY_URL={registry_url}")
    print("\n".join(lines))
    return 0


def _down(args: argparse.Namespace) -> int:
    if stop_registry(grace=args.grace):
        print("local-kafka: registry stopped")
    print("local-kafka: stopped" if stop(grace=args.grace) else "local-kafka: not running")
    return 0


def _status(_: argparse.Namespace) -> int:
    broker = running_broker()
    if broker is None:
        print("local-kafka: not running")
        return 1
    answers = broker_answers(broker.bootstrap, timeout=3.0)
    rss = "?" if broker.rss_bytes is None else f"{broker.rss_bytes / 2**20:.0f} MiB"
    print(f"local-kafka: pid {broker.pid}, {'answering' if answers else 'NOT answering'}")
    print("\n".join(_describe(broker)))
    print(f"  {'rss':<15}{rss}")
    print(f"  {'log':<15}{broker.log}")
    registry = running_registry()
    if registry is None:
        print(f"  {'registry':<15}not running (`up --registry` starts it)")
    else:
        state = "answering" if registry_answers(registry.url, timeout=3.0) else "NOT answering"
        registry_rss = (
            "?" if registry.rss_bytes is None else f"{registry.rss_bytes / 2**20:.0f} MiB"
        )
        print(f"  {'registry':<15}{registry.url} (pid {registry.pid}, {state}, {registry_rss})")
        print(f"  {'registry log':<15}{registry.log}")
    return 0 if answers else 1


def _logs(args: argparse.Namespace) -> int:
    path = registry_log_path() if args.registry else log_path()
    if not path.exists():
        print(f"local-kafka: no log at {path}", file=sys.stderr)
        return 1
    sys.stdout.writelines(_tail(path, args.lines))
    if not args.follow:
        return 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(0, 2)
        try:
            while True:
                line = handle.readline()
                if line:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                else:
                    time.sleep(0.5)
        except KeyboardInterrupt:
            return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m connector.local_kafka",
        description="Run a local single-node Apache Kafka broker (and, on request, an Apicurio "
        "schema registry) assembled from Maven Central.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the broker (no-op if it runs)")
    up.add_argument("--port", type=int, default=DEFAULT_PORT, help="PLAINTEXT port")
    up.add_argument("--sasl-port", type=int, default=DEFAULT_SASL_PORT, help="SASL/SCRAM port")
    up.add_argument("--no-sasl", action="store_true", help="no SASL_PLAINTEXT listener")
    up.add_argument(
        "--ssl-port", type=int, default=DEFAULT_SSL_PORT, help="SSL port (client cert optional)"
    )
    up.add_argument(
        "--mtls-port", type=int, default=DEFAULT_MTLS_PORT, help="SSL port requiring a client cert"
    )
    up.add_argument("--no-ssl", action="store_true", help="no SSL listeners (no certificates)")
    up.add_argument(
        "--no-authorizer", action="store_true", help="no StandardAuthorizer (no ACL checks)"
    )
    up.add_argument("--controller-port", type=int, help="KRaft controller port (default port+1)")
    up.add_argument(
        "--fresh", action="store_true", help="wipe the data, make new certificates, format anew"
    )
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for readiness")
    up.add_argument(
        "--registry", action="store_true", help="also start the schema registry (Apicurio)"
    )
    up.add_argument(
        "--registry-port", type=int, default=DEFAULT_REGISTRY_PORT, help="schema registry port"
    )
    up.set_defaults(handler=_up)
    down = commands.add_parser("down", help="stop the broker (and the registry)")
    down.add_argument("--grace", type=float, default=30.0, help="seconds before SIGKILL")
    down.set_defaults(handler=_down)
    status = commands.add_parser("status", help="exit 0 if the broker runs and answers")
    status.set_defaults(handler=_status)
    logs = commands.add_parser("logs", help="print the broker's log")
    logs.add_argument("--registry", action="store_true", help="the registry's log instead")
    logs.add_argument("-n", "--lines", type=int, default=100)
    logs.add_argument("-f", "--follow", action="store_true")
    logs.set_defaults(handler=_logs)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = _parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
