"""Start, find and stop the local single-node Apache Kafka broker (a detached JVM).

Standard library only, so it runs before the project's dependencies are installed. All
state lives in one folder outside the repository (default
`~/.cache/iec-connector/local-kafka`, env `IEC_KAFKA_STATE_DIR`):

    server.properties   rendered at every start
    data/               KRaft metadata and topic data, formatted once and reused
    format.json         what the data was formatted with (cluster id, controller, users)
    broker.pid          pid of the running JVM;  broker.json: its listeners
    broker.log          the JVM's stdout/stderr (previous run: broker.log.1)
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .distribution import (
    Distribution,
    DistributionError,
    cache_root,
    ensure_distribution,
    find_executable,
    resource_path,
)
from .probe import ProtocolError, broker_answers, query_api_versions
from .settings import (
    DEFAULT_PORT,
    DEFAULT_SASL_PORT,
    BrokerSettings,
    ScramUser,
    default_scram_users,
    new_cluster_id,
    render_server_properties,
    scram_format_arguments,
)

__all__ = [
    "BROKER_JVM_OPTIONS",
    "JVM_OPTIONS_ENV",
    "STATE_DIR_ENV",
    "BrokerStatus",
    "LocalKafkaError",
    "ensure_running",
    "is_running",
    "log_path",
    "running_broker",
    "state_dir",
    "stop",
]

STATE_DIR_ENV = "IEC_KAFKA_STATE_DIR"
JVM_OPTIONS_ENV = "IEC_KAFKA_JVM_OPTS"
# Small-box flags: Serial GC suits 2 cores and a small heap; fail fast instead of thrashing.
BROKER_JVM_OPTIONS = ("-Xms256m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError")
# One short-lived JVM: the C1 compiler alone starts faster.
_TOOL_JVM_OPTIONS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
_STOP_GRACE_SECONDS = 30.0
_POLL_SECONDS = 0.25
_MAIN_CLASS = "kafka.Kafka"

# Popen handles of brokers this process started: kept so they can be reaped (no zombies).
_children: dict[int, subprocess.Popen[bytes]] = {}


class LocalKafkaError(RuntimeError):
    """The local broker could not be prepared, started or stopped; the message says why."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message if log is None else f"{message} (broker log: {log})")
        self.log = log


@dataclass(frozen=True)
class BrokerStatus:
    """A running local broker."""

    pid: int
    bootstrap: str
    sasl_bootstrap: str | None
    rss_bytes: int | None
    log: Path


def state_dir() -> Path:
    """`$IEC_KAFKA_STATE_DIR`, default `<cache root>/local-kafka`."""
    override = os.environ.get(STATE_DIR_ENV)
    return Path(override) if override else cache_root() / "local-kafka"


def log_path(directory: Path | None = None) -> Path:
    """The broker's log file."""
    return (directory or state_dir()) / "broker.log"


# --- processes -----------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
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


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_our_broker(pid: int, directory: Path) -> bool:
    """Guards against a recycled pid: the process must run kafka.Kafka on our properties."""
    cmdline = _cmdline(pid)
    if not cmdline:  # no /proc (not Linux): trust the pid file
        return _pid_alive(pid)
    return _MAIN_CLASS in cmdline and str(directory / "server.properties") in cmdline


def _rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_pid(directory: Path) -> int | None:
    try:
        return int((directory / "broker.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _clear_pid(directory: Path) -> None:
    for name in ("broker.pid", "broker.json"):
        (directory / name).unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise up/down across processes (e.g. parallel test workers) on one state folder."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def running_broker(directory: Path | None = None) -> BrokerStatus | None:
    """The broker started from this state folder if its process is alive, else None."""
    folder = directory or state_dir()
    pid = _read_pid(folder)
    if pid is None or not _pid_alive(pid) or not _is_our_broker(pid, folder):
        return None
    info = _read_json(folder / "broker.json")
    bootstrap = info.get("bootstrap")
    sasl = info.get("sasl_bootstrap")
    return BrokerStatus(
        pid=pid,
        bootstrap=bootstrap if isinstance(bootstrap, str) else f"127.0.0.1:{DEFAULT_PORT}",
        sasl_bootstrap=sasl if isinstance(sasl, str) else None,
        rss_bytes=_rss_bytes(pid),
        log=log_path(folder),
    )


def is_running(directory: Path | None = None) -> bool:
    """True if the broker from this state folder is alive and answers a Metadata request."""
    broker = running_broker(directory)
    return broker is not None and broker_answers(broker.bootstrap, timeout=2.0)


# --- storage -------------------------------------------------------------------------------


def _users_digest(users: tuple[ScramUser, ...]) -> str:
    """Changes when a test user or password changes; never stores the password itself."""
    material = "\0".join(f"{user.username}\0{user.password}" for user in users)
    return hashlib.sha256(material.encode()).hexdigest() if users else ""


def _java_tool(
    distribution: Distribution, java: str, arguments: list[str], secrets: tuple[str, ...]
) -> None:
    command = [
        java,
        *_TOOL_JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={resource_path('log4j2-tools.properties')}",
        "-cp",
        distribution.classpath,
        *arguments,
    ]
    result = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        for secret in secrets:
            output = output.replace(secret, "***")
        raise LocalKafkaError(f"{arguments[0]} failed (exit {result.returncode}): {output[-2000:]}")


def _format_storage(
    distribution: Distribution,
    java: str,
    settings: BrokerSettings,
    directory: Path,
    users: tuple[ScramUser, ...],
    fresh: bool,
) -> bool:
    """Format `data/` unless it already is; returns True if it formatted.

    1. `fresh` wipes the data folder.
    2. A formatted folder is reused if the controller endpoint and test users still match
       what it was formatted with (both live in the metadata log), else an error says
       to start with --fresh.
    3. Otherwise format with a new cluster id, `--standalone` (single-voter dynamic
       quorum) and the SCRAM users.
    """
    data = settings.data_dir
    record_path = directory / "format.json"
    # 1. Wipe on request.
    if fresh:
        shutil.rmtree(data, ignore_errors=True)
        record_path.unlink(missing_ok=True)
    digest = _users_digest(users)
    controller = f"{settings.host}:{settings.effective_controller_port}"
    # 2. Reuse.
    if (data / "meta.properties").is_file():
        record = _read_json(record_path)
        mismatch = []
        if record.get("controller") != controller:
            mismatch.append(f"controller {record.get('controller')} (now {controller})")
        if users and record.get("scram_users") != digest:
            mismatch.append("SCRAM test users or password")
        if mismatch:
            raise LocalKafkaError(
                f"{data} was formatted with another {' and '.join(mismatch)}; "
                "start with `python -m connector.local_kafka up --fresh` to wipe it"
            )
        return False
    # 3. Format.
    shutil.rmtree(data, ignore_errors=True)
    cluster_id = new_cluster_id()
    _java_tool(
        distribution,
        java,
        [
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "--cluster-id",
            cluster_id,
            "--config",
            str(directory / "server.properties"),
            *scram_format_arguments(users),
        ],
        tuple(user.password for user in users),
    )
    record_path.write_text(
        json.dumps(
            {
                "cluster_id": cluster_id,
                "kafka_version": distribution.version,
                "controller": controller,
                "scram_users": digest,
            },
            indent=2,
        )
        + "\n",
        "utf-8",
    )
    return True


# --- start / stop --------------------------------------------------------------------------


def _check_ports_free(settings: BrokerSettings) -> None:
    ports = [settings.port, settings.effective_controller_port]
    if settings.sasl_port is not None:
        ports.append(settings.sasl_port)
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((settings.host, port))
            except OSError as error:
                raise LocalKafkaError(
                    f"port {settings.host}:{port} is in use ({error.strerror}); "
                    "choose others with --port/--sasl-port/--controller-port"
                ) from None


def _jvm_options() -> list[str]:
    override = os.environ.get(JVM_OPTIONS_ENV)
    return shlex.split(override) if override else list(BROKER_JVM_OPTIONS)


def _spawn(distribution: Distribution, java: str, directory: Path) -> subprocess.Popen[bytes]:
    log = log_path(directory)
    if log.exists():
        log.replace(log.with_name("broker.log.1"))
    (directory / "logs").mkdir(exist_ok=True)
    command = [
        java,
        *_jvm_options(),
        f"-Dkafka.logs.dir={directory / 'logs'}",
        f"-Dlog4j2.configurationFile={resource_path('log4j2-broker.properties')}",
        "-cp",
        distribution.classpath,
        _MAIN_CLASS,
        str(directory / "server.properties"),
    ]
    with log.open("wb") as out:
        # A session of its own: Ctrl-C in the terminal that ran `up` does not reach the broker.
        return subprocess.Popen(
            command,
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_ready(pid: int, settings: BrokerSettings, log: Path, deadline: float) -> None:
    while True:
        if not _pid_alive(pid):
            raise LocalKafkaError("the broker exited during startup", log)
        if broker_answers(settings.bootstrap, timeout=2.0):
            break
        if time.monotonic() > deadline:
            raise LocalKafkaError("the broker did not answer a Metadata request in time", log)
        time.sleep(_POLL_SECONDS)
    # The SASL listener opens with the others; ApiVersions needs no authentication.
    while settings.sasl_port is not None:
        try:
            query_api_versions(settings.host, settings.sasl_port, timeout=2.0)
            return
        except (OSError, ProtocolError) as error:
            if time.monotonic() > deadline:
                raise LocalKafkaError(f"the SASL listener does not answer: {error}", log) from None
            time.sleep(_POLL_SECONDS)


def _echo(enabled: bool, message: str) -> None:
    if enabled:
        print(f"local-kafka: {message}", flush=True)


def ensure_running(
    port: int = DEFAULT_PORT,
    *,
    sasl_port: int | None = DEFAULT_SASL_PORT,
    controller_port: int | None = None,
    fresh: bool = False,
    timeout: float = 120.0,
    directory: Path | None = None,
    echo: bool = False,
) -> str:
    """Start the local broker unless it runs already; returns its PLAINTEXT bootstrap address.

    1. Our broker alive and answering on the requested port: nothing to do.
    2. Another process answers on the port: use it (it is a Kafka broker).
    3. Assemble the jars (cached), render server.properties, format storage if needed.
    4. Spawn the JVM detached, write the pid file, wait until a Metadata request is
       answered (and the SASL listener answers), else stop it and raise with the log path.
    """
    folder = directory or state_dir()
    data = folder / "data"
    settings = BrokerSettings(
        data_dir=data, port=port, sasl_port=sasl_port, controller_port=controller_port
    )
    with _locked(folder):
        # 1. Already running?
        current = running_broker(folder)
        if current is not None:
            if fresh:
                _echo(echo, f"stopping pid {current.pid} for a fresh start")
                _stop_locked(folder)
            elif current.bootstrap != settings.bootstrap:
                raise LocalKafkaError(
                    f"the local broker already runs on {current.bootstrap}; stop it first"
                )
            else:
                # A broker whose starter was interrupted may still be starting: wait for it.
                plaintext_only = dataclasses.replace(settings, sasl_port=None)
                deadline = time.monotonic() + max(timeout, 2.0)
                _wait_ready(current.pid, plaintext_only, current.log, deadline)
                _echo(echo, f"already running (pid {current.pid}) on {current.bootstrap}")
                return current.bootstrap
        _clear_pid(folder)
        # 2. Someone else's broker?
        if broker_answers(settings.bootstrap, timeout=2.0):
            _echo(echo, f"a broker not started by this launcher answers on {settings.bootstrap}")
            return settings.bootstrap
        _check_ports_free(settings)
        # 3. Jars, configuration, storage.
        try:
            java = find_executable("java")
            distribution = ensure_distribution(echo=echo)
        except DistributionError as error:
            raise LocalKafkaError(str(error)) from None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "server.properties").write_text(render_server_properties(settings), "utf-8")
        users = default_scram_users() if sasl_port is not None else ()
        started = time.monotonic()
        if _format_storage(distribution, java, settings, folder, users, fresh):
            _echo(echo, f"formatted {data} in {time.monotonic() - started:.1f} s")
        # 4. Start and wait.
        started = time.monotonic()
        process = _spawn(distribution, java, folder)
        _children[process.pid] = process
        (folder / "broker.pid").write_text(f"{process.pid}\n")
        info = {"bootstrap": settings.bootstrap, "sasl_bootstrap": settings.sasl_bootstrap}
        (folder / "broker.json").write_text(json.dumps(info) + "\n", "utf-8")
        try:
            _wait_ready(process.pid, settings, log_path(folder), started + timeout)
        except LocalKafkaError:
            _stop_locked(folder, grace=5.0)
            raise
        _echo(echo, f"ready in {time.monotonic() - started:.1f} s (pid {process.pid})")
        return settings.bootstrap


def _stop_locked(directory: Path, grace: float = _STOP_GRACE_SECONDS) -> bool:
    pid = _read_pid(directory)
    if pid is None or not _pid_alive(pid) or not _is_our_broker(pid, directory):
        _clear_pid(directory)
        return False
    # SIGTERM runs the broker's shutdown hook (controlled shutdown, clean log close).
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
        while _pid_alive(pid):
            time.sleep(0.05)
    _children.pop(pid, None)
    _clear_pid(directory)
    return True


def stop(directory: Path | None = None, grace: float = _STOP_GRACE_SECONDS) -> bool:
    """Stop the local broker (SIGTERM, SIGKILL after `grace` seconds); False if none ran."""
    folder = directory or state_dir()
    if not folder.exists():
        return False
    with _locked(folder):
        return _stop_locked(folder, grace)
