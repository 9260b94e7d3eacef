"""`iec-connector run` in a process of its own, with the test drivers registered, and waiting
for a condition: what the process tests and the fault suite share."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent

__all__ = ["ConnectorProcess", "wait_for"]


class ConnectorProcess:
    """`iec-connector run` (with the test drivers) as a process of its own."""

    def __init__(self, config: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._out = open(log, "ab")  # noqa: SIM115 - closed in wait()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, str(SUPPORT / "connector_process.py"), str(config)],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, nothing committed beyond what was."""
        self.proc.send_signal(signal.SIGKILL)
        self.wait()

    def terminate(self, timeout: float = 60) -> tuple[int, float]:
        """SIGTERM once the runtime runs (its signal handlers are installed), and wait:
        (exit code, seconds it took)."""
        wait_for(lambda: self.up() or not self.alive(), "the connector to start", timeout=90)
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.wait(timeout)
        return code, time.monotonic() - started

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._out.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def up(self) -> bool:
        """The runtime has started (it serves metrics and health)."""
        return "metrics and health on" in self.output()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
