"""Create, start, find and stop a throwaway PostgreSQL cluster (the server's own binaries).

Standard library only, so it runs before the project's dependencies are installed. All
state lives in one folder outside the repository (default `~/.cache/iec-connector/postgres`;
`/var/tmp/iec-connector-postgres` when run as root; env `IEC_POSTGRES_STATE_DIR`):

    password        the `iec` superuser's password (mode 0600, made at `initdb`)
    cluster/        owned by the server's user: data/ (initdb'd once, reused), postgres.log

PostgreSQL refuses to run as root: as root, every server command runs as the `postgres`
user (the Debian package creates it), or as `IEC_POSTGRES_OS_USER`.

Start protocol (`ensure_running`), under a file lock so two callers never race:

1. Find the binaries: `IEC_POSTGRES_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else
   `pg_ctl` on the PATH.
2. If a server already runs on this data folder and answers, return it.
3. ``fresh``: stop it and remove the data.
4. First start: `initdb` with scram-sha-256 authentication and a random password.
5. `pg_ctl start` on 127.0.0.1:<port> (socket in the data folder), wait until it answers.
6. First start: create the `iec` database.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "DEFAULT_PORT",
    "Cluster",
    "LocalPostgresError",
    "ensure_running",
    "restart",
    "running_cluster",
    "state_dir",
    "stop",
]

DEFAULT_PORT = 55432
"""Off PostgreSQL's 5432, so a system cluster and this one never collide."""
USER = "iec"
DATABASE = "iec"
STATE_DIR_ENV = "IEC_POSTGRES_STATE_DIR"
BIN_ENV = "IEC_POSTGRES_BIN"
OS_USER_ENV = "IEC_POSTGRES_OS_USER"
_INSTALL_HINT = "install it: apt-get install postgresql (Debian/Ubuntu), or set IEC_POSTGRES_BIN"


class LocalPostgresError(RuntimeError):
    """The cluster could not be created, started or stopped; `log` is its log, if any."""

    def __init__(self, message: str, log: Path | None = None):
        super().__init__(message)
        self.log = log


@dataclass(frozen=True, slots=True)
class Cluster:
    """A running local cluster: where it listens and how to log in."""

    directory: Path
    port: int
    password: str
    host: str = "127.0.0.1"
    user: str = USER
    database: str = DATABASE

    def url(self, driver: str = "asyncpg", *, hide_password: bool = False) -> str:
        """A SQLAlchemy URL (``postgresql+asyncpg://...``); ``driver=""`` gives a libpq URL."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        password = "***" if hide_password else quote(self.password, safe="")
        return f"{scheme}://{self.user}:{password}@{self.host}:{self.port}/{self.database}"

    @property
    def log(self) -> Path:
        return self.directory / "cluster" / "postgres.log"

    def __repr__(self) -> str:
        return f"Cluster({self.url(hide_password=True)!r}, directory={str(self.directory)!r})"


def state_dir() -> Path:
    """`$IEC_POSTGRES_STATE_DIR`, else a folder the server's user can reach."""
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override)
    if os.geteuid() == 0:
        # /root is private: the `postgres` user could not reach a folder under it.
        return Path("/var/tmp/iec-connector-postgres")
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "iec-connector" / "postgres"


# -- binaries and the server's user ---------------------------------------------------------


def _bin_dir() -> Path:
    """1. Where initdb, pg_ctl and createdb are."""
    override = os.environ.get(BIN_ENV)
    if override:
        if not (Path(override) / "pg_ctl").exists():
            raise LocalPostgresError(f"{BIN_ENV}={override} has no pg_ctl")
        return Path(override)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise LocalPostgresError(
        f"PostgreSQL's server binaries (pg_ctl, initdb) are missing; {_INSTALL_HINT}"
    )


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get(OS_USER_ENV, "postgres")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise LocalPostgresError(
            f"PostgreSQL refuses to run as root and there is no user {name!r} to run it as; "
            f"create one (useradd --system {name}) or set {OS_USER_ENV}"
        ) from None


def _run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    account = _server_user()
    merged = {**os.environ, "LC_ALL": "C", **(env or {})}
    try:
        done = subprocess.run(
            args,
            cwd=cwd,
            env=merged,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LocalPostgresError(f"{Path(args[0]).name} failed: {exc}") from None
    if done.returncode != 0:
        raise LocalPostgresError(
            f"{Path(args[0]).name} exited {done.returncode}: {(done.stderr or done.stdout).strip()}"
        )
    return done.stdout


def _give_to_server_user(path: Path) -> None:
    account = _server_user()
    if account is not None:
        os.chown(path, account.pw_uid, account.pw_gid)


# -- state ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _data(directory: Path) -> Path:
    return directory / "cluster" / "data"


def _postmaster(directory: Path) -> tuple[int, int] | None:
    """(pid, port) from postmaster.pid if that process is alive and is PostgreSQL."""
    try:
        lines = (_data(directory) / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, but another user's (the server's user, when we are not root)
    try:
        # A killed server leaves the file behind; its pid may now be another program's, or a
        # zombie nobody reaped.
        name, _, rest = Path(f"/proc/{pid}/stat").read_text().rpartition(")")
        if rest.split()[0] == "Z" or name.split("(", 1)[-1] not in ("postgres", "postmaster"):
            return None
    except (OSError, IndexError):
        pass  # no /proc: trust the pid
    return pid, port


def _clear_stale_lock_files(directory: Path) -> None:
    """Remove the lock files of a server that is gone: postmaster.pid and the socket's lock
    (PostgreSQL refuses to start while the pid they name is alive, even as another program's
    or as a zombie)."""
    data = _data(directory)
    if (data / "postmaster.pid").exists() and _postmaster(directory) is None:
        for lock in [data / "postmaster.pid", *data.glob(".s.PGSQL.*.lock")]:
            lock.unlink(missing_ok=True)


def _answers(port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def running_cluster(directory: Path | None = None) -> Cluster | None:
    """The cluster running on `directory`'s data (default `state_dir()`), if any answers."""
    directory = directory or state_dir()
    found = _postmaster(directory)
    if found is None or not _answers(found[1]):
        return None
    try:
        password = (directory / "password").read_text().strip()
    except OSError:
        return None
    return Cluster(directory, found[1], password)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# -- lifecycle ------------------------------------------------------------------------------


def _initdb(bin_dir: Path, directory: Path) -> str:
    """4. A new data folder with a random superuser password."""
    cluster = directory / "cluster"
    if cluster.exists():
        shutil.rmtree(cluster)
    cluster.mkdir(mode=0o700)
    _give_to_server_user(cluster)
    password = os.environ.get("IEC_POSTGRES_PASSWORD") or secrets.token_urlsafe(18)
    pwfile = cluster / "pwfile"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    _give_to_server_user(pwfile)
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "--pgdata", str(_data(directory)),
                "--username", USER,
                "--pwfile", str(pwfile),
                "--auth", "scram-sha-256",
                "--encoding", "UTF8",
                "--locale", "C",
                "--no-instructions",
            ],
            cwd=cluster,
        )  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)
    secret = directory / "password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    return password


def _start(bin_dir: Path, directory: Path, port: int, timeout: float) -> None:
    """5. Start the server and wait until it accepts connections."""
    data = _data(directory)
    options = (
        f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={data} "
        "-c max_connections=200"
    )
    log = directory / "cluster" / "postgres.log"
    try:
        _run(
            [
                str(bin_dir / "pg_ctl"), "start", "--pgdata", str(data), "--log", str(log),
                "--options", options, "--wait", "--timeout", str(int(timeout)),
            ],
            cwd=directory / "cluster",
        )  # fmt: skip
    except LocalPostgresError as exc:
        raise LocalPostgresError(f"PostgreSQL did not start on port {port}: {exc}", log) from None


def ensure_running(
    port: int = DEFAULT_PORT,
    *,
    directory: Path | None = None,
    fresh: bool = False,
    timeout: float = 60.0,
    echo: bool = False,
) -> Cluster:
    """Start the cluster if it is not running (see the module's protocol); return it."""
    directory = directory or state_dir()
    with _locked(directory):
        # 1. binaries
        bin_dir = _bin_dir()
        # 2. already running?
        current = running_cluster(directory)
        if current is not None and not fresh:
            return current
        # 3. fresh: stop and wipe
        if current is not None or _postmaster(directory) is not None:
            _stop_locked(bin_dir, directory, "fast")
        if fresh and (directory / "cluster").exists():
            shutil.rmtree(directory / "cluster")
        _clear_stale_lock_files(directory)
        if not _port_free(port):
            raise LocalPostgresError(f"port {port} is in use by another program; choose another")
        # 4. initdb once
        first = not (_data(directory) / "PG_VERSION").exists()
        if first:
            if echo:
                print(f"local-postgres: initdb in {_data(directory)}", flush=True)
            password = _initdb(bin_dir, directory)
        else:
            password = (directory / "password").read_text().strip()
        # 5. start
        if echo:
            print(f"local-postgres: starting on 127.0.0.1:{port}", flush=True)
        _start(bin_dir, directory, port, timeout)
        cluster = Cluster(directory, port, password)
        # 6. the database, once
        if first:
            _run(
                [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER,
                 DATABASE],
                cwd=directory / "cluster",
                env={"PGPASSWORD": password},
            )  # fmt: skip
        return cluster


def _stop_locked(bin_dir: Path, directory: Path, mode: str) -> bool:
    if _postmaster(directory) is None:
        return False
    _run(
        [str(bin_dir / "pg_ctl"), "stop", "--pgdata", str(_data(directory)), "--mode", mode,
         "--wait", "--timeout", "60"],
        cwd=directory / "cluster",
    )  # fmt: skip
    return True


def stop(directory: Path | None = None, *, mode: str = "fast") -> bool:
    """Stop the cluster (`mode`: smart, fast or immediate); False if it was not running."""
    directory = directory or state_dir()
    with _locked(directory):
        return _stop_locked(_bin_dir(), directory, mode)


def restart(directory: Path | None = None, *, mode: str = "fast", pause_s: float = 0.0) -> Cluster:
    """Stop the running cluster (`mode` ``immediate`` is a crash), wait `pause_s`, start it."""
    directory = directory or state_dir()
    current = running_cluster(directory)
    if current is None:
        raise LocalPostgresError(f"no cluster runs on {directory}")
    stop(directory, mode=mode)
    time.sleep(pause_s)
    return ensure_running(current.port, directory=directory)
