"""Sort database exceptions into what the runtime does with them (pure, no I/O).

* ``transient`` — the batch may succeed later: connection lost or refused, server shutting
  down or starting, deadlock, serialization failure, statement or lock timeout, out of
  resources, SQLite busy. The whole batch is retried.
* ``record`` — the record is wrong for the table: a constraint or data violation (SQLSTATE
  classes 22 and 23; SQLite's IntegrityError). Only that record fails.
* ``fatal`` — the integration cannot work: bad credentials, no such database, no privilege,
  a table that is not ours (classes 28, 3D, 42, 0A).

PostgreSQL errors are read by SQLSTATE (asyncpg's code, which SQLAlchemy keeps as
``orig.sqlstate``); others by their DB-API class.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import exc as sa_exc

__all__ = ["Failure", "classify", "describe"]


class Failure(StrEnum):
    TRANSIENT = "transient"
    RECORD = "record"
    FATAL = "fatal"


_TRANSIENT_CLASSES = ("08", "40", "53", "57", "58", "55")
"""connection, transaction rollback (deadlock, serialization), resources, operator
intervention (shutdown, query canceled), system/IO, object not in state (lock not available)."""
_RECORD_CLASSES = ("22", "23")
_FATAL_CLASSES = ("28", "3D", "42", "0A", "3F", "2B")


def sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) and len(code) == 5 else None


def classify(exc: BaseException) -> Failure:
    """What `exc`, raised while writing a batch, means."""
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return Failure.TRANSIENT
        code = sqlstate(exc)
        if code is not None:
            if code.startswith(_RECORD_CLASSES):
                return Failure.RECORD
            if code.startswith(_FATAL_CLASSES):
                return Failure.FATAL
            return Failure.TRANSIENT  # known transient classes, and unknown ones
        if isinstance(exc, sa_exc.IntegrityError | sa_exc.DataError):
            return Failure.RECORD
        if isinstance(exc, sa_exc.ProgrammingError | sa_exc.NotSupportedError):
            return Failure.FATAL
        return Failure.TRANSIENT  # OperationalError (SQLite busy, I/O), InterfaceError, ...
    if isinstance(exc, sa_exc.TimeoutError | TimeoutError | OSError):
        return Failure.TRANSIENT  # pool timeout; our own deadline; connection refused or reset
    if isinstance(exc, sa_exc.ArgumentError | sa_exc.NoSuchModuleError):
        return Failure.FATAL
    return Failure.TRANSIENT


def describe(exc: BaseException, limit: int = 300) -> str:
    """The database's own message (no SQL, no parameters), with its SQLSTATE, bounded."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc) or type(exc).__name__
    # SQLAlchemy's adapted asyncpg errors read "<class '...'>: message".
    if text.startswith("<class '"):
        text = text.split(">: ", 1)[-1]
    code = sqlstate(exc)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{text} (SQLSTATE {code})" if code else text
