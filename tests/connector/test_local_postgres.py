"""The throwaway PostgreSQL launcher: start, answer, survive a killed server, stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from connector import local_postgres


@pytest.fixture
def directory() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="iec-pg-launcher-", dir="/var/tmp"))
    path.chmod(0o755)  # the server's user must reach its data below it
    yield path
    local_postgres.stop(path, mode="immediate")
    shutil.rmtree(path, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


async def _select_one(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()


def test_a_cluster_starts_answers_and_comes_back_after_its_server_was_killed(
    directory: Path,
) -> None:
    cluster = local_postgres.ensure_running(_free_port(), directory=directory)
    assert asyncio.run(_select_one(cluster.url(""))) == 1
    assert cluster.password not in repr(cluster)
    assert local_postgres.running_cluster(directory) == cluster

    # Killed with its machine: the pid file stays, and its pid may belong to someone else.
    pid_file = directory / "cluster" / "data" / "postmaster.pid"
    server_pid = int(pid_file.read_text().split()[0])
    os.kill(server_pid, signal.SIGSTOP)  # no reaction while its children die
    for pid in [*_children(server_pid), server_pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while local_postgres.running_cluster(directory) is not None:
        assert time.monotonic() < deadline, "the killed server still answers"
        time.sleep(0.1)
    lines = pid_file.read_text().splitlines()
    pid_file.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")  # a live non-server

    again = local_postgres.ensure_running(cluster.port, directory=directory)
    assert asyncio.run(_select_one(again.url(""))) == 1
    assert again.password == cluster.password  # the same cluster, not a new one
    assert local_postgres.stop(directory)
    assert local_postgres.running_cluster(directory) is None
