"""Process logging: one redacting path for everything the process reports on stderr.

`configure_logging` installs one stderr handler (text or JSON lines) whose `RedactingFilter`
masks the configuration's secrets, and routes into it what would otherwise bypass it:

1. every log record of every logger (the root's one handler);
2. `warnings.warn` (`logging.captureWarnings`, logger ``py.warnings``);
3. exceptions escaping a thread (`threading.excepthook`, logger ``iec.thread``) and
   "unraisable" ones, e.g. in ``__del__`` (`sys.unraisablehook`);
4. librdkafka's own log lines: every client is built with a ``logger``
   (`connector.kafka.clients`), whose records come here at librdkafka's level.

JSON lines carry the record's `extra` fields (dicts and lists redacted inside) and its
traceback (``exception``) and stack (``stack``), redacted like the message.
"""

from __future__ import annotations

import logging
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal, TextIO

import orjson

from connector.redaction import RedactingFilter, Redactor

__all__ = ["JsonFormatter", "configure_logging"]

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, `extra` fields, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        # The redacting filter formats the exception into `exc_text` (and clears `exc_info`).
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return orjson.dumps(entry, default=str).decode()


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is at the time of each record (a test runner or a
    daemon manager may replace it after logging was configured)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging(
    level: str = "INFO", fmt: Literal["text", "json"] = "text", redactor: Redactor | None = None
) -> None:
    """Route everything the process reports through one redacting stderr handler (see the
    module docstring); replaces the root logger's handlers and the hooks it installs."""
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT_FORMAT))
    handler.addFilter(RedactingFilter(redactor if redactor is not None else Redactor()))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # 2. warnings
    logging.captureWarnings(True)
    # 3. threads and unraisable exceptions
    threading.excepthook = _thread_exception
    sys.unraisablehook = _unraisable
    # 4. librdkafka's lines arrive on each client's logger at their own level (debug lines at
    # DEBUG); confluent-kafka's own logger passes WARNING and above only.
    logging.getLogger("confluent_kafka").setLevel(logging.WARNING)
    # The start-up check of the cluster turns what went wrong into its one error line (a
    # refused password, an unreachable cluster): librdkafka's lines about it repeat that.
    logging.getLogger("iec.kafka.preflight").setLevel(logging.CRITICAL)


_thread_log = logging.getLogger("iec.thread")


def _thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    exc_info = _exc_info(args.exc_type, args.exc_value, args.exc_traceback)
    _thread_log.error("uncaught exception in thread %s", name, exc_info=exc_info)


def _unraisable(args: sys.UnraisableHookArgs) -> None:
    message = args.err_msg or "exception ignored"
    where = f" in {args.object!r}" if args.object is not None else ""
    exc_info = _exc_info(args.exc_type, args.exc_value, args.exc_traceback)
    _thread_log.error("%s%s", message, where, exc_info=exc_info)


def _exc_info(
    exc_type: type[BaseException],
    exc_value: BaseException | None,
    exc_traceback: TracebackType | None,
) -> tuple[type[BaseException], BaseException, TracebackType | None] | None:
    if exc_value is None:
        return None
    return exc_type, exc_value, exc_traceback
