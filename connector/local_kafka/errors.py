"""The one error the local servers' launchers raise."""

from __future__ import annotations

from pathlib import Path

__all__ = ["LocalKafkaError"]


class LocalKafkaError(RuntimeError):
    """A local server could not be prepared, started or stopped; the message says why."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message if log is None else f"{message} (log: {log})")
        self.log = log
