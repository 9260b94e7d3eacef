"""A real Confluent-compatible schema registry next to the local broker: Apicurio Registry.

Apicurio Registry 2.6 (in-memory storage, Java 17) serves the Confluent Schema Registry API
under `/apis/ccompat/v7`, which is what confluent-kafka's `SchemaRegistryClient` speaks. Like
the broker it is assembled from Maven Central (`registry-pom.xml` pins the version; the
`-all.zip` holds a Quarkus runner jar and its `lib/`) into the cache, and runs as a detached
JVM bound to 127.0.0.1 only (its one HTTP port serves the API, `/health` and `/metrics`; the
separate Quarkus management interface stays off). Standard library only.

State, in the broker's state folder (`IEC_KAFKA_STATE_DIR`): `registry.pid`, `registry.json`
(its URL), `registry.log` (previous run: `registry.log.1`). Schemas live in memory: a
restart forgets them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .distribution import DistributionError, cache_root, find_executable, maven_copy_dependencies
from .errors import LocalKafkaError
from .launcher import state_dir
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

__all__ = [
    "APICURIO_VERSION",
    "CCOMPAT_PATH",
    "DEFAULT_REGISTRY_PORT",
    "REGISTRY_HOME_ENV",
    "REGISTRY_JVM_OPTIONS",
    "RegistryStatus",
    "ensure_registry",
    "ensure_registry_distribution",
    "registry_answers",
    "registry_log_path",
    "running_registry",
    "stop_registry",
]

DEFAULT_REGISTRY_PORT = 8081  # the Confluent Schema Registry's customary port
CCOMPAT_PATH = "/apis/ccompat/v7"
REGISTRY_HOME_ENV = "IEC_REGISTRY_HOME"
# C1 only and a small Serial-GC heap: Quarkus starts faster and the box has 2 cores.
REGISTRY_JVM_OPTIONS = (
    "-Xms64m",
    "-Xmx384m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
)
_POM = "registry-pom.xml"
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
_MARKER = ".complete"
_STATE_PROPERTY = "-Diec.local-registry.state="
_STOP_GRACE_SECONDS = 20.0
_POLL_SECONDS = 0.25


def _pom_bytes() -> bytes:
    return resources.files(__package__).joinpath(_POM).read_bytes()


def _read_version() -> str:
    version = ET.fromstring(_pom_bytes()).findtext("m:properties/m:apicurio.version", None, _POM_NS)
    if not version:
        raise DistributionError(f"packaged {_POM} has no <apicurio.version> property")
    return version


APICURIO_VERSION = _read_version()


@dataclass(frozen=True)
class RegistryStatus:
    """A running local registry: `url` is the Confluent-compatible API's base URL."""

    pid: int
    url: str
    rss_bytes: int | None
    log: Path


def registry_log_path(directory: Path | None = None) -> Path:
    """The registry's log file."""
    return (directory or state_dir()) / "registry.log"


def _home() -> Path:
    override = os.environ.get(REGISTRY_HOME_ENV)
    return Path(override) if override else cache_root() / f"apicurio-registry-{APICURIO_VERSION}"


def _runner_jar(app: Path) -> Path:
    return app / f"apicurio-registry-app-{APICURIO_VERSION}-runner.jar"


def ensure_registry_distribution(home: Path | None = None, *, echo: bool = True) -> Path:
    """The registry's runner jar, resolved with Maven and unzipped first if not cached.

    1. An `app/` folder whose marker holds the packaged pom's hash is complete: done.
    2. Copy the `-all.zip` with Maven (offline first) into `download/`.
    3. Unzip into `app.partial/`, check the runner jar, write the marker, swap it in as
       `app/`, and drop the downloaded copy (Maven's repository keeps one).
    """
    home_dir = home or _home()
    app = home_dir / "app"
    digest = hashlib.sha256(_pom_bytes()).hexdigest()
    # 1. Cached?
    marker = app / _MARKER
    if marker.is_file() and marker.read_text("utf-8").strip() == digest:
        return _runner_jar(app)
    # 2. Resolve.
    started = time.monotonic()
    if echo:
        print(f"local-kafka: assembling Apicurio Registry {APICURIO_VERSION} into {home_dir}")
    download = home_dir / "download"
    maven_copy_dependencies(_pom_bytes(), home_dir, download, echo=echo)
    archives = sorted(download.glob("apicurio-registry-app-*-all.zip"))
    if not archives:
        raise DistributionError(f"Maven finished but no -all.zip is in {download}")
    # 3. Unzip, verify, publish.
    partial = home_dir / "app.partial"
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(archives[0]) as archive:
        archive.extractall(partial)
    if not _runner_jar(partial).is_file():
        raise DistributionError(f"{archives[0].name} holds no {_runner_jar(partial).name}")
    (partial / _MARKER).write_text(digest + "\n", "utf-8")
    shutil.rmtree(app, ignore_errors=True)
    partial.rename(app)
    shutil.rmtree(download, ignore_errors=True)
    if echo:
        print(f"local-kafka: registry ready to run in {time.monotonic() - started:.1f} s")
    return _runner_jar(app)


# --- finding, starting, stopping -----------------------------------------------------------


def _is_our_registry(pid: int, directory: Path) -> bool:
    argv = cmdline(pid)
    if not argv:
        return pid_alive(pid)
    return f"{_STATE_PROPERTY}{directory}" in argv


def running_registry(directory: Path | None = None) -> RegistryStatus | None:
    """The registry started from this state folder if its process is alive, else None."""
    folder = directory or state_dir()
    pid = read_pid(folder / "registry.pid")
    if pid is None or not pid_alive(pid) or not _is_our_registry(pid, folder):
        return None
    url = read_json(folder / "registry.json").get("url")
    if not isinstance(url, str):
        return None
    return RegistryStatus(pid, url, rss_bytes(pid), registry_log_path(folder))


def registry_answers(url: str, timeout: float = 2.0) -> bool:
    """True if a Confluent-compatible registry at `url` lists its subjects; never raises."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/subjects", timeout=timeout) as response:
            return response.status == 200 and isinstance(json.loads(response.read()), list)
    except (OSError, ValueError):  # URLError, HTTPError, timeouts and bad JSON
        return False


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise LocalKafkaError(
                f"port {host}:{port} is in use ({error.strerror}); choose another "
                "with --registry-port"
            ) from None


def _clean_environment() -> dict[str, str]:
    # Apicurio reads KAFKA_BOOTSTRAP_SERVERS (and other well-known names) for its optional
    # event sink: it must never act on the test environment's Kafka settings.
    return {key: value for key, value in os.environ.items() if not key.startswith("KAFKA_")}


def ensure_registry(
    port: int = DEFAULT_REGISTRY_PORT,
    *,
    timeout: float = 180.0,
    directory: Path | None = None,
    echo: bool = False,
) -> str:
    """Start the local registry unless it runs already; returns its ccompat base URL.

    1. Our registry alive on the requested port: wait until it answers, done.
    2. Another registry answers on the port: use it.
    3. Assemble the distribution (cached), spawn the JVM detached bound to 127.0.0.1, wait
       until `GET /subjects` answers, else stop it and raise with the log path.
    """
    folder = directory or state_dir()
    host = "127.0.0.1"
    url = f"http://{host}:{port}{CCOMPAT_PATH}"
    deadline = time.monotonic() + timeout
    with locked(folder, ".registry.lock"):
        # 1. Already running?
        current = running_registry(folder)
        if current is not None:
            if current.url != url:
                raise LocalKafkaError(f"the local registry already runs at {current.url}")
            _wait_ready(current.pid, url, current.log, deadline)
            return url
        for name in ("registry.pid", "registry.json"):
            (folder / name).unlink(missing_ok=True)
        # 2. Someone else's?
        if registry_answers(url):
            _echo(echo, f"a registry not started by this launcher answers at {url}")
            return url
        _check_port_free(host, port)
        # 3. Assemble, start, wait.
        try:
            java = find_executable("java")
            runner = ensure_registry_distribution(echo=echo)
        except DistributionError as error:
            raise LocalKafkaError(str(error)) from None
        command = [
            java,
            *REGISTRY_JVM_OPTIONS,
            f"{_STATE_PROPERTY}{folder}",
            f"-Dquarkus.http.host={host}",
            f"-Dquarkus.http.port={port}",
            "-Dquarkus.management.enabled=false",
            f"-Dquarkus.management.host={host}",
            "-Dquarkus.log.console.color=false",
            "-jar",
            str(runner),
        ]
        started = time.monotonic()
        log = registry_log_path(folder)
        process = spawn_detached(command, log, folder, env=_clean_environment())
        (folder / "registry.pid").write_text(f"{process.pid}\n")
        (folder / "registry.json").write_text(json.dumps({"url": url}) + "\n", "utf-8")
        try:
            _wait_ready(process.pid, url, log, deadline)
        except LocalKafkaError:
            _stop_locked(folder, grace=5.0)
            raise
        _echo(echo, f"registry ready in {time.monotonic() - started:.1f} s at {url}")
        return url


def _wait_ready(pid: int, url: str, log: Path, deadline: float) -> None:
    while not registry_answers(url):
        if not pid_alive(pid):
            raise LocalKafkaError("the registry exited during startup", log)
        if time.monotonic() > deadline:
            raise LocalKafkaError(f"the registry did not answer at {url} in time", log)
        time.sleep(_POLL_SECONDS)


def _echo(enabled: bool, message: str) -> None:
    if enabled:
        print(f"local-kafka: {message}", flush=True)


def _stop_locked(directory: Path, grace: float = _STOP_GRACE_SECONDS) -> bool:
    pid = read_pid(directory / "registry.pid")
    stopped = pid is not None and terminate(pid, grace, lambda p: _is_our_registry(p, directory))
    for name in ("registry.pid", "registry.json"):
        (directory / name).unlink(missing_ok=True)
    return stopped


def stop_registry(directory: Path | None = None, grace: float = _STOP_GRACE_SECONDS) -> bool:
    """Stop the local registry (SIGTERM, SIGKILL after `grace` s); False if none ran."""
    folder = directory or state_dir()
    if not folder.exists():
        return False
    with locked(folder, ".registry.lock"):
        return _stop_locked(folder, grace)
