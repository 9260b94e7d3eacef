"""Whether the Kafka cluster is reachable, said once per outage for the whole process.

During a broker outage every client of the process (the integration consumers, the mapping
stores' readers and writers, the dead-letter producers) reports the same thing many times a
second: librdkafka logs each failed connection attempt and raises `_ALL_BROKERS_DOWN` and
`_TRANSPORT` errors. One outage is one story:

1. the first report: one WARNING, "the Kafka cluster is unreachable", with the reason;
2. while it lasts: every `summary_every_s`, one WARNING with how long and how many
   connection errors were swallowed (librdkafka's own connection-failure log lines are
   dropped: `quiet_connection_failure` says which);
3. the first sign of life (a client sees a broker up again, a partition is assigned, a
   commit succeeds): one WARNING, "reachable again after N s".

`CLUSTER` is the process's tracker; `ClusterReachability` takes a clock for tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import orjson

__all__ = ["CLUSTER", "ClusterReachability", "brokers_up", "quiet_connection_failure"]

_SUMMARY_EVERY_S = 30.0
# librdkafka log lines (facility FAIL) that are one more failed connection attempt: the
# error callback reports the same failure, and the tracker tells the story once.
_CONNECTION_FAILURES = (
    "connect to ",
    "connection refused",
    "disconnected",
    "connection closed",
    "connection reset",
    "timed out",
    "failed to resolve",
)


def quiet_connection_failure(facility: str, message: str) -> bool:
    """True for a librdkafka log line that only repeats a failed connection attempt."""
    if facility != "FAIL":
        return False
    text = message.lower()
    return any(words in text for words in _CONNECTION_FAILURES)


def brokers_up(stats_json: str | bytes) -> bool:
    """True if librdkafka's statistics (`stats_cb`) show a broker connection that is up."""
    try:
        stats = orjson.loads(stats_json)
    except orjson.JSONDecodeError:
        return False
    brokers = stats.get("brokers") or {}
    return any(b.get("state") == "UP" and int(b.get("nodeid", -1)) >= 0 for b in brokers.values())


class ClusterReachability:
    """The outage story of the module docstring; thread-safe (clients call from theirs)."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        summary_every_s: float = _SUMMARY_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._summary_every_s = summary_every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._last_said = 0.0
        self._swallowed = 0
        self._swallowed_total = 0

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def unreachable(self, reason: str) -> bool:
        """A client lost every broker (or failed to connect during an outage). Returns True
        if the caller's own report is redundant (the outage is being told here)."""
        now = self._clock()
        with self._lock:
            if self._down_since is None:
                # 1. The first report.
                self._down_since = self._last_said = now
                self._swallowed = self._swallowed_total = 0
                message = (
                    f"the Kafka cluster is unreachable ({reason}); clients keep retrying, "
                    f"a summary follows every {self._summary_every_s:g} s"
                )
            else:
                self._swallowed += 1
                self._swallowed_total += 1
                if now - self._last_said < self._summary_every_s:
                    return True
                # 2. The periodic summary.
                message = (
                    f"the Kafka cluster is still unreachable after {now - self._down_since:.0f} s "
                    f"({self._swallowed} connection errors since the last report; last: {reason})"
                )
                self._last_said = now
                self._swallowed = 0
        self._log.warning("%s", message)
        return True

    def connection_failed(self, reason: str) -> bool:
        """One failed connection attempt: swallowed (counted) during an outage; else the
        caller reports it itself (False)."""
        if self._down_since is None:
            return False
        return self.unreachable(reason)

    def reachable(self) -> None:
        """A sign of life: ends the outage (3.) if there is one."""
        if not self.down:
            return
        now = self._clock()
        with self._lock:
            since, self._down_since = self._down_since, None
            swallowed = self._swallowed_total
        if since is None:  # another thread ended it first
            return
        self._log.warning(
            "the Kafka cluster is reachable again after %.0f s (%d connection errors meanwhile)",
            now - since,
            swallowed,
        )


CLUSTER = ClusterReachability(logging.getLogger("iec.kafka.cluster"))
"""The process's tracker: one cluster per process (`kafka.bootstrap_servers`)."""
