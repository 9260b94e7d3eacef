"""Start, find and stop the local single-node Apache Kafka broker (a detached JVM).

Standard library only, so it runs before the project's dependencies are installed. All
state lives in one folder outside the repository (default
`~/.cache/iec-connector/local-kafka`, env `IEC_KAFKA_STATE_DIR`):

    server.properties   rendered at every start
    data/               KRaft metadata and topic data, formatted once and reused
    format.json         what the data was formatted with (cluster id, controller, users)
    tls/                test CA, broker and client certificates (certificates.py)
    broker.pid          pid of the running JVM;  broker.json: its listeners
    broker.log          the JVM's stdout/stderr (previous run: broker.log.1)
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .certificates import CertificateError, TlsFiles, ensure_certificates
from .distribution import (
    Distribution,
    DistributionError,
    cache_root,
    ensure_distribution,
    find_executable,
    resource_path,
)
from .errors import LocalKafkaError
from .probe import ProtocolError, broker_answers, query_api_versions
from .processes import (
    cmdline,
    locked,
    pid_alive,
    read_json,
    read_pid,
    rss_bytes,
    spawn_detached,
    terminate,
)
from .settings import (
    DEFAULT_MTLS_PORT,
    DEFAULT_PORT,
    DEFAULT_SASL_PORT,
    DEFAULT_SSL_PORT,
    BrokerSettings,
    default_scram_users,
    render_server_properties,
)
from .storage import format_storage

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
_STOP_GRACE_SECONDS = 30.0
_POLL_SECONDS = 0.25
_MAIN_CLASS = "kafka.Kafka"


@dataclass(frozen=True)
class BrokerStatus:
    """A running local broker: its listeners (None: not enabled) and files."""

    pid: int
    bootstrap: str
    sasl_bootstrap: str | None
    rss_bytes: int | None
    log: Path
    ssl_bootstrap: str | None = None
    mtls_bootstrap: str | None = None
    tls: TlsFiles | None = None
    authorizer: bool = False


def state_dir() -> Path:
    """`$IEC_KAFKA_STATE_DIR`, default `<cache root>/local-kafka`."""
    override = os.environ.get(STATE_DIR_ENV)
    return Path(override) if override else cache_root() / "local-kafka"


def log_path(directory: Path | None = None) -> Path:
    """The broker's log file."""
    return (directory or state_dir()) / "broker.log"


# --- finding the broker --------------------------------------------------------------------


def _is_our_broker(pid: int, directory: Path) -> bool:
    """Guards against a recycled pid: the process must run kafka.Kafka on our properties."""
    argv = cmdline(pid)
    if not argv:  # no /proc (not Linux): trust the pid file
        return pid_alive(pid)
    return _MAIN_CLASS in argv and str(directory / "server.properties") in argv


def _clear_pid(directory: Path) -> None:
    for name in ("broker.pid", "broker.json"):
        (directory / name).unlink(missing_ok=True)


def _optional_str(info: dict[str, object], key: str) -> str | None:
    value = info.get(key)
    return value if isinstance(value, str) else None


def running_broker(directory: Path | None = None) -> BrokerStatus | None:
    """The broker started from this state folder if its process is alive, else None."""
    folder = directory or state_dir()
    pid = read_pid(folder / "broker.pid")
    if pid is None or not pid_alive(pid) or not _is_our_broker(pid, folder):
        return None
    info = read_json(folder / "broker.json")
    tls_dir = _optional_str(info, "tls_dir")
    return BrokerStatus(
        pid=pid,
        bootstrap=_optional_str(info, "bootstrap") or f"127.0.0.1:{DEFAULT_PORT}",
        sasl_bootstrap=_optional_str(info, "sasl_bootstrap"),
        rss_bytes=rss_bytes(pid),
        log=log_path(folder),
        ssl_bootstrap=_optional_str(info, "ssl_bootstrap"),
        mtls_bootstrap=_optional_str(info, "mtls_bootstrap"),
        tls=None if tls_dir is None else TlsFiles(Path(tls_dir)),
        authorizer=info.get("authorizer") is True,
    )


def is_running(directory: Path | None = None) -> bool:
    """True if the broker from this state folder is alive and answers a Metadata request."""
    broker = running_broker(directory)
    return broker is not None and broker_answers(broker.bootstrap, timeout=2.0)


# --- start / stop --------------------------------------------------------------------------


def _check_ports_free(settings: BrokerSettings) -> None:
    for port in settings.ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((settings.host, port))
            except OSError as error:
                raise LocalKafkaError(
                    f"port {settings.host}:{port} is in use ({error.strerror}); choose others "
                    "with --port/--sasl-port/--ssl-port/--mtls-port/--controller-port"
                ) from None


def _jvm_options() -> list[str]:
    override = os.environ.get(JVM_OPTIONS_ENV)
    return shlex.split(override) if override else list(BROKER_JVM_OPTIONS)


def _spawn(distribution: Distribution, java: str, directory: Path) -> subprocess.Popen[bytes]:
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
    return spawn_detached(command, log_path(directory), directory)


def _client_tls(tls: TlsFiles, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls.ca))
    if with_certificate:
        context.load_cert_chain(str(tls.client_certificate), str(tls.client_key))
    return context


def _wait_ready(pid: int, settings: BrokerSettings, log: Path, deadline: float) -> None:
    """Wait for a Metadata answer on PLAINTEXT, then for ApiVersions on every other client
    listener (they open together; ApiVersions needs no authentication; the SSL ones are
    asked over TLS verified against the test CA, the mTLS one with the client certificate)."""
    while True:
        if not pid_alive(pid):
            raise LocalKafkaError("the broker exited during startup", log)
        if broker_answers(settings.bootstrap, timeout=2.0):
            break
        if time.monotonic() > deadline:
            raise LocalKafkaError("the broker did not answer a Metadata request in time", log)
        time.sleep(_POLL_SECONDS)
    listeners: list[tuple[str, int, ssl.SSLContext | None]] = []
    if settings.sasl_port is not None:
        listeners.append(("SASL", settings.sasl_port, None))
    if settings.tls is not None:
        if settings.ssl_port is not None:
            listeners.append(("SSL", settings.ssl_port, _client_tls(settings.tls, False)))
        if settings.mtls_port is not None:
            listeners.append(("mTLS", settings.mtls_port, _client_tls(settings.tls, True)))
    for name, port, tls in listeners:
        while True:
            try:
                query_api_versions(settings.host, port, timeout=2.0, tls=tls)
                break
            except (OSError, ProtocolError) as error:
                if time.monotonic() > deadline:
                    message = f"the {name} listener on port {port} does not answer: {error}"
                    raise LocalKafkaError(message, log) from None
                time.sleep(_POLL_SECONDS)


def _echo(enabled: bool, message: str) -> None:
    if enabled:
        print(f"local-kafka: {message}", flush=True)


def _missing_features(current: BrokerStatus, wanted: BrokerSettings) -> list[str]:
    missing = []
    if wanted.ssl_port is not None and current.ssl_bootstrap is None:
        missing.append("SSL listener")
    if wanted.mtls_port is not None and current.mtls_bootstrap is None:
        missing.append("mTLS listener")
    if wanted.authorizer and not current.authorizer:
        missing.append("authorizer")
    return missing


def ensure_running(
    port: int = DEFAULT_PORT,
    *,
    sasl_port: int | None = DEFAULT_SASL_PORT,
    ssl_port: int | None = DEFAULT_SSL_PORT,
    mtls_port: int | None = DEFAULT_MTLS_PORT,
    authorizer: bool = True,
    controller_port: int | None = None,
    fresh: bool = False,
    timeout: float = 120.0,
    directory: Path | None = None,
    echo: bool = False,
) -> str:
    """Start the local broker unless it runs already; returns its PLAINTEXT bootstrap address.

    1. Our broker alive and answering on the requested port: nothing to do (a note if it
       lacks a requested listener or the authorizer: `fresh` restarts it with them).
    2. Another process answers on the port: use it (it is a Kafka broker).
    3. Assemble the jars (cached), make the test certificates (reused while valid; new
       ones with `fresh`), render server.properties, format storage if needed.
    4. Spawn the JVM detached, write the pid file, wait until a Metadata request is
       answered and every other listener answers, else stop it and raise with the log path.
    """
    folder = directory or state_dir()
    tls = TlsFiles(folder / "tls") if ssl_port is not None or mtls_port is not None else None
    settings = BrokerSettings(
        data_dir=folder / "data",
        port=port,
        sasl_port=sasl_port,
        controller_port=controller_port,
        ssl_port=ssl_port,
        mtls_port=mtls_port,
        tls=tls,
        authorizer=authorizer,
    )
    with locked(folder):
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
                plaintext_only = dataclasses.replace(
                    settings, sasl_port=None, ssl_port=None, mtls_port=None, tls=None
                )
                deadline = time.monotonic() + max(timeout, 2.0)
                _wait_ready(current.pid, plaintext_only, current.log, deadline)
                _echo(echo, f"already running (pid {current.pid}) on {current.bootstrap}")
                missing = _missing_features(current, settings)
                if missing:
                    _echo(
                        echo,
                        f"it runs without the {', '.join(missing)}: "
                        "`python -m connector.local_kafka up --fresh` restarts it with them",
                    )
                return current.bootstrap
        _clear_pid(folder)
        # 2. Someone else's broker?
        if broker_answers(settings.bootstrap, timeout=2.0):
            _echo(echo, f"a broker not started by this launcher answers on {settings.bootstrap}")
            return settings.bootstrap
        _check_ports_free(settings)
        # 3. Jars, certificates, configuration, storage.
        try:
            java = find_executable("java")
            distribution = ensure_distribution(echo=echo)
            if tls is not None:
                ensure_certificates(tls.folder, renew=fresh)
        except (DistributionError, CertificateError) as error:
            raise LocalKafkaError(str(error)) from None
        (folder / "server.properties").write_text(render_server_properties(settings), "utf-8")
        users = default_scram_users() if sasl_port is not None else ()
        started = time.monotonic()
        if format_storage(distribution, java, settings, folder, users, fresh):
            _echo(echo, f"formatted {settings.data_dir} in {time.monotonic() - started:.1f} s")
        # 4. Start and wait.
        started = time.monotonic()
        process = _spawn(distribution, java, folder)
        (folder / "broker.pid").write_text(f"{process.pid}\n")
        info = {
            "bootstrap": settings.bootstrap,
            "sasl_bootstrap": settings.sasl_bootstrap,
            "ssl_bootstrap": settings.ssl_bootstrap,
            "mtls_bootstrap": settings.mtls_bootstrap,
            "tls_dir": None if tls is None else str(tls.folder),
            "authorizer": settings.authorizer,
        }
        (folder / "broker.json").write_text(json.dumps(info) + "\n", "utf-8")
        try:
            _wait_ready(process.pid, settings, log_path(folder), started + timeout)
        except LocalKafkaError:
            _stop_locked(folder, grace=5.0)
            raise
        _echo(echo, f"ready in {time.monotonic() - started:.1f} s (pid {process.pid})")
        return settings.bootstrap


def _stop_locked(directory: Path, grace: float = _STOP_GRACE_SECONDS) -> bool:
    pid = read_pid(directory / "broker.pid")
    # SIGTERM runs the broker's shutdown hook (controlled shutdown, clean log close).
    stopped = pid is not None and terminate(pid, grace, lambda p: _is_our_broker(p, directory))
    _clear_pid(directory)
    return stopped


def stop(directory: Path | None = None, grace: float = _STOP_GRACE_SECONDS) -> bool:
    """Stop the local broker (SIGTERM, SIGKILL after `grace` seconds); False if none ran."""
    folder = directory or state_dir()
    if not folder.exists():
        return False
    with locked(folder):
        return _stop_locked(folder, grace)
