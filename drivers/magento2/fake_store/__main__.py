"""Serve a fake Magento store: ``python -m drivers.magento2.fake_store [--port 8080]``.

Prints ``listening on http://HOST:PORT`` once it accepts requests, then serves until
interrupted. Credentials are `StoreCredentials`' defaults (bearer tokens allowed); store
views ``default`` (1), ``de`` (2) and ``fr`` (3).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from drivers.magento2.fake_store.app import FakeMagento
from drivers.magento2.fake_store.routes import StoreView
from drivers.magento2.fake_store.server import FakeMagentoServer


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Magento 2.4 admin REST API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    parser.add_argument(
        "--no-response-checks", action="store_true", help="skip checking its own responses"
    )
    parser.add_argument(
        "--no-request-checks",
        action="store_true",
        help="skip checking requests against the schema (benchmarks: the store's CPU then is "
        "mostly its semantics)",
    )
    args = parser.parse_args()
    store = FakeMagento(
        store_views=[StoreView(2, "de", "Deutsch"), StoreView(3, "fr", "Français")],
        latency_s=args.latency_ms / 1000,
        check_responses=not args.no_response_checks,
        check_requests=not args.no_request_checks,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FakeMagentoServer(store, args.host, args.port) as server:
        print(f"listening on {server.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    print(f"{sum(store.calls.values())} requests; {len(store.violations)} schema violations")


if __name__ == "__main__":
    main()
