"""`python -m connector.local_postgres up|down|status|url`: manage the local PostgreSQL."""

from __future__ import annotations

import argparse
import sys
from collections import deque

from .launcher import DEFAULT_PORT, LocalPostgresError, ensure_running, running_cluster, stop

__all__ = ["main"]


def _up(args: argparse.Namespace) -> int:
    try:
        cluster = ensure_running(args.port, fresh=args.fresh, timeout=args.timeout, echo=True)
    except LocalPostgresError as error:
        print(f"local-postgres: {error}", file=sys.stderr)
        if error.log is not None and error.log.exists():
            with error.log.open(encoding="utf-8", errors="replace") as handle:
                sys.stderr.writelines(deque(handle, maxlen=30))
        return 1
    print(f"local-postgres: {cluster.url(hide_password=True)} (full URL: `url` command)")
    return 0


def _down(_: argparse.Namespace) -> int:
    try:
        stopped = stop()
    except LocalPostgresError as error:
        print(f"local-postgres: {error}", file=sys.stderr)
        return 1
    print("local-postgres: stopped" if stopped else "local-postgres: not running")
    return 0


def _status(_: argparse.Namespace) -> int:
    cluster = running_cluster()
    if cluster is None:
        print("local-postgres: not running")
        return 1
    print(f"local-postgres: {cluster.url(hide_password=True)}")
    print(f"  log  {cluster.log}")
    return 0


def _url(args: argparse.Namespace) -> int:
    cluster = running_cluster()
    if cluster is None:
        print("local-postgres: not running", file=sys.stderr)
        return 1
    print(cluster.url(args.driver))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m connector.local_postgres",
        description="Run a throwaway local PostgreSQL cluster (from the installed server).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="create (once) and start the cluster; no-op if it runs")
    up.add_argument("--port", type=int, default=DEFAULT_PORT)
    up.add_argument("--fresh", action="store_true", help="wipe the data and initdb anew")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for readiness")
    up.set_defaults(handler=_up)
    commands.add_parser("down", help="stop the cluster").set_defaults(handler=_down)
    commands.add_parser("status", help="exit 0 if it runs").set_defaults(handler=_status)
    url = commands.add_parser("url", help="print its SQLAlchemy URL (with the password)")
    url.add_argument("--driver", default="asyncpg", help='SQLAlchemy driver ("" for libpq)')
    url.set_defaults(handler=_url)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
