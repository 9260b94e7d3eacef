"""Detached server processes (the broker's and the registry's JVMs): start, find, stop.

Standard library only. A server is identified by a pid file plus its command line (a
recycled pid running something else is not ours); a lock file serialises starts and stops
across processes on one state folder (e.g. parallel test workers).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

__all__ = [
    "cmdline",
    "locked",
    "pid_alive",
    "read_json",
    "read_pid",
    "rss_bytes",
    "spawn_detached",
    "terminate",
]

_POLL_SECONDS = 0.25

# Popen handles of servers this process started: kept so they can be reaped (no zombies).
_children: dict[int, subprocess.Popen[bytes]] = {}


def pid_alive(pid: int) -> bool:
    """True if `pid` runs (a zombie has exited already)."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # A zombie (state Z after the command name) has exited already.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def cmdline(pid: int) -> list[str]:
    """The process's argv, or [] where /proc is missing (not Linux) or it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def rss_bytes(pid: int) -> int | None:
    """Resident memory of `pid`, if /proc tells."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def read_pid(path: Path) -> int | None:
    """The pid in a pid file, or None."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def read_json(path: Path) -> dict[str, object]:
    """A JSON object from a file, {} if missing or not an object."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def locked(directory: Path, name: str = ".lock") -> Iterator[None]:
    """Hold an exclusive lock on `directory/name` (created with the folder if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / name).open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def spawn_detached(
    command: Sequence[str], log: Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `command` in a session of its own with stdout+stderr to `log` (the previous
    log is kept as `<log>.1`); Ctrl-C in the starting terminal does not reach it. `env`
    replaces the environment (default: inherited)."""
    if log.exists():
        log.replace(log.with_name(log.name + ".1"))
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    _children[process.pid] = process
    return process


def terminate(pid: int, grace: float, is_ours: Callable[[int], bool]) -> bool:
    """SIGTERM `pid` (its shutdown hook runs), SIGKILL after `grace` seconds; False if it
    was not running or `is_ours(pid)` says the pid now belongs to someone else."""
    if not pid_alive(pid) or not is_ours(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)
    _children.pop(pid, None)
    return True
