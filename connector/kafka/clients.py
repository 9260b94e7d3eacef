"""Building Kafka clients: every Consumer, Producer and AdminClient of the connector is made here.

Each client gets the common client configuration (`KafkaSettings.client_config()`: bootstrap
servers, security), the caller's own settings, a `logger` (librdkafka's log lines go through
Python logging; they surface when the client is polled) and an error callback (by default a
`ClientErrorLog` on the same logger: each error code logged once, then summarised).

A cluster that refuses the connection itself (a TLS handshake, the SASL credentials) is a
configuration error, not an outage: `ClientErrorLog` says so once per interval with the
setting to check (`connector.kafka.errors.refusal`), the outage tracker does not hear of it,
and librdkafka's log line for each refused attempt is dropped like a failed connection's.

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

from connector.kafka.errors import SettingName, connector_setting, describe, refusal, tls_refusal
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
_REFUSED = "refused"  # the log's key for every refusal of the connection, whatever its code
# librdkafka's log line for a refused SASL handshake (the error callback reports it too).
_SASL_REFUSED = "sasl authentication error"


def _all_down(text: str) -> bool:
    """librdkafka says "N/M brokers are down"; while reconnecting it may say "0/2"."""
    match = _BROKERS_DOWN.match(text)
    return match is None or match[1] == match[2]


def _refused_attempt(facility: str, message: str) -> bool:
    """A librdkafka log line about one refused connection attempt (TLS, SASL)."""
    return facility == "FAIL" and (
        tls_refusal(message) is not None or _SASL_REFUSED in message.lower()
    )


class LibrdkafkaLog(logging.LoggerAdapter[logging.Logger]):
    """librdkafka's log lines (`log(level, "%s [%s] %s", facility, client, message)`) without
    the failed- or refused-connection ones: the error callback reports those (an outage once
    per outage, a refusal once per interval with what to fix)."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if len(args) == 3:
            facility, message = str(args[0]), str(args[2])
            if quiet_connection_failure(facility, message) or _refused_attempt(facility, message):
                return
        super().log(level, msg, *args, **kwargs)


class ClientErrorLog:
    """An ``error_cb`` that logs each error code once per `interval_s`, then a count.

    A broker outage makes librdkafka report the same error many times a second: the first
    one is logged at once (fatal ones at ERROR, others at WARNING), repeats within the
    interval are counted and summarised with the next one logged. `last` is the latest
    error, for messages that explain a later failure (e.g. a record timing out).

    A refused connection (module docstring) is logged at ERROR with what to check, `name`
    naming the settings (the connector's `kafka.*` by default), and kept in `refusal`; the
    "all brokers down" that follows it is not an outage.
    """

    def __init__(
        self,
        logger: Logger,
        *,
        interval_s: float = _SUMMARY_EVERY_S,
        name: SettingName = connector_setting,
    ) -> None:
        self._log = logger
        self._interval_s = interval_s
        self._name = name
        self._lock = threading.Lock()
        self._logged_at: dict[int | str, float] = {}
        self._suppressed: dict[int | str, int] = {}
        self.last: KafkaError | None = None
        self.refusal: str | None = None
        """The latest refused connection and what to check; None after a plain connection
        failure (an outage then), or when the owner saw the cluster accept us (`accepted`)."""

    def accepted(self) -> None:
        """The cluster took a request (e.g. acknowledged a record): no refusal stands."""
        self.refusal = None

    def __call__(self, error: KafkaError) -> None:
        self.last = error
        code = error.code()
        hint = refusal(error, self._name)
        if hint is not None:
            self.refusal = f"{describe(error)} — {hint}"
            self._once(
                _REFUSED, logging.ERROR, f"the cluster refused the connection: {self.refusal}"
            )
            return
        # A broker outage is told once for the whole process (connector.kafka.reachability).
        if code == KafkaError._ALL_BROKERS_DOWN:
            if _all_down(error.str()) and self.refusal is None:
                CLUSTER.unreachable(describe(error))
            return
        if code in _CONNECTION_CODES:
            self.refusal = None  # not refused: the brokers do not answer
            if CLUSTER.connection_failed(describe(error)):
                return
        level = logging.ERROR if error.fatal() else logging.WARNING
        self._once(code, level, f"Kafka client error: {describe(error)}")

    def _once(self, key: int | str, level: int, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._logged_at.get(key, -self._interval_s) < self._interval_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._logged_at[key] = now
            repeats = self._suppressed.pop(key, 0)
        suffix = f" (and {repeats} more in the last {self._interval_s:g} s)" if repeats else ""
        self._log.log(level, "%s%s", message, suffix)


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
