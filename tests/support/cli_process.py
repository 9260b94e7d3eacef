"""`iec-connector` in a process of its own, as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

__all__ = ["run_cli"]


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    columns: int | None = 250,
) -> subprocess.CompletedProcess[str]:
    """`python -m connector.cli ARGS`, output captured as text, never raising on its exit
    code. `env` replaces the environment (default: this process's); `columns` sets a wide
    terminal so tables do not wrap (None: leave `COLUMNS` as `env` has it)."""
    environment = dict(os.environ if env is None else env)
    if columns is not None:
        environment["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "connector.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        check=False,
    )
