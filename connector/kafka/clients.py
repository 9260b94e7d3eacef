"""Building Kafka clients: every Consumer, Producer and AdminClient of the connector is made here.

Each client gets the common client configuration (`KafkaSettings.client_config()`: bootstrap
servers, security), the caller's own settings, a `logger` (librdkafka's log lines go through
Python logging; they surface when the client is polled) and an error callback (by default a
`ClientErrorLog` on the same logger: each error code logged once, then summarised).

Precedence, lowest first: `defaults` (site defaults an operator may override through
``kafka.extra``), the common client configuration, `settings` (what the site needs to be
correct, e.g. ``acks=all``), then the logger and the error callback.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from connector.kafka.errors import describe
from connector.kafka.reachability import CLUSTER, quiet_connection_failure

__all__ = [
    "ClientConfig",
    "ClientErrorLog",
    "ErrorCallback",
    "LibrdkafkaLog",
    "Logger",
    "client_settings",
    "new_admin",
    "new_consumer",
    "new_producer",
]

ClientConfig = Mapping[str, Any]
"""librdkafka properties (dotted names), e.g. `KafkaSettings.client_config()`."""
Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]
ErrorCallback = Callable[[KafkaError], None]

_SUMMARY_EVERY_S = 30.0
_CONNECTION_CODES = frozenset({KafkaError._TRANSPORT, KafkaError._RESOLVE})
_BROKERS_DOWN = re.compile(r"^(\d+)/(\d+) brokers are down")


def _all_down(text: str) -> bool:
    """librdkafka says "N/M brokers are down"; while reconnecting it may say "0/2"."""
    match = _BROKERS_DOWN.match(text)
    return match is None or match[1] == match[2]


class LibrdkafkaLog(logging.LoggerAdapter[logging.Logger]):
    """librdkafka's log lines (`log(level, "%s [%s] %s", facility, client, message)`) without
    the failed-connection ones: the error callback reports those, once per outage."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if len(args) == 3 and quiet_connection_failure(str(args[0]), str(args[2])):
            return
        super().log(level, msg, *args, **kwargs)


class ClientErrorLog:
    """An ``error_cb`` that logs each error code once per `interval_s`, then a count.

    A broker outage makes librdkafka report the same error many times a second: the first
    one is logged at once (fatal ones at ERROR, others at WARNING), repeats within the
    interval are counted and summarised with the next one logged. `last` is the latest
    error, for messages that explain a later failure (e.g. a record timing out).
    """

    def __init__(self, logger: Logger, *, interval_s: float = _SUMMARY_EVERY_S) -> None:
        self._log = logger
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._logged_at: dict[int, float] = {}
        self._suppressed: dict[int, int] = {}
        self.last: KafkaError | None = None

    def __call__(self, error: KafkaError) -> None:
        self.last = error
        code = error.code()
        # A broker outage is told once for the whole process (connector.kafka.reachability).
        if code == KafkaError._ALL_BROKERS_DOWN:
            if _all_down(error.str()):
                CLUSTER.unreachable(describe(error))
            return
        if code in _CONNECTION_CODES and CLUSTER.connection_failed(describe(error)):
            return
        now = time.monotonic()
        with self._lock:
            if now - self._logged_at.get(code, -self._interval_s) < self._interval_s:
                self._suppressed[code] = self._suppressed.get(code, 0) + 1
                return
            self._logged_at[code] = now
            repeats = self._suppressed.pop(code, 0)
        level = logging.ERROR if error.fatal() else logging.WARNING
        suffix = f" (and {repeats} more in the last {self._interval_s:g} s)" if repeats else ""
        self._log.log(level, "Kafka client error: %s%s", describe(error), suffix)


def client_settings(
    client_config: ClientConfig,
    *,
    logger: Logger,
    on_error: ErrorCallback | None = None,
    defaults: ClientConfig | None = None,
    settings: ClientConfig | None = None,
) -> dict[str, Any]:
    """The full configuration of one client (see the module docstring for the precedence)."""
    return {
        **(defaults or {}),
        **client_config,
        **(settings or {}),
        "logger": LibrdkafkaLog(logger if isinstance(logger, logging.Logger) else logger.logger),
        "error_cb": on_error if on_error is not None else ClientErrorLog(logger),
    }


def new_producer(
    client_config: ClientConfig,
    *,
    logger: Logger,
    on_error: ErrorCallback | None = None,
    defaults: ClientConfig | None = None,
    settings: ClientConfig | None = None,
) -> Producer:
    """A librdkafka producer. For writes that must be acknowledged use `AckedProducer`."""
    return Producer(
        client_settings(
            client_config, logger=logger, on_error=on_error, defaults=defaults, settings=settings
        )
    )


def new_consumer(
    client_config: ClientConfig,
    *,
    group_id: str,
    logger: Logger,
    on_error: ErrorCallback | None = None,
    defaults: ClientConfig | None = None,
    settings: ClientConfig | None = None,
) -> Consumer:
    """A librdkafka consumer of group `group_id` (readers that only `assign` still need one)."""
    return Consumer(
        client_settings(
            client_config,
            logger=logger,
            on_error=on_error,
            defaults=defaults,
            settings={**(settings or {}), "group.id": group_id},
        )
    )


def new_admin(
    client_config: ClientConfig,
    *,
    logger: Logger,
    on_error: ErrorCallback | None = None,
    settings: ClientConfig | None = None,
) -> AdminClient:
    """An admin client. Its log lines surface on `poll`: call ``admin.poll(0)`` after requests."""
    return AdminClient(
        client_settings(client_config, logger=logger, on_error=on_error, settings=settings)
    )
