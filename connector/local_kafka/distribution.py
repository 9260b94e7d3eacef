"""The broker's jars: assembled from Maven Central into a cache folder outside the repository.

The packaged `pom.xml` pins the Kafka version and is the only input; Maven's
`dependency:copy-dependencies` copies the runtime classpath into `<home>/lib`. A marker file
holding the pom's hash makes later calls skip Maven entirely.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = [
    "HOME_ENV",
    "KAFKA_VERSION",
    "Distribution",
    "DistributionError",
    "cache_root",
    "default_home",
    "ensure_distribution",
    "find_executable",
    "maven_copy_dependencies",
    "resource_path",
]

HOME_ENV = "IEC_KAFKA_HOME"
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
_MARKER = ".complete"
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


class DistributionError(RuntimeError):
    """The broker's jars could not be assembled (no Maven/Java, resolution failed)."""


def _pom_bytes() -> bytes:
    return resources.files(__package__).joinpath("pom.xml").read_bytes()


def _read_kafka_version() -> str:
    version = ET.fromstring(_pom_bytes()).findtext("m:properties/m:kafka.version", None, _POM_NS)
    if not version:
        raise DistributionError("packaged pom.xml has no <kafka.version> property")
    return version


KAFKA_VERSION = _read_kafka_version()


def resource_path(name: str) -> Path:
    """Filesystem path of a packaged data file (the package is never zipped)."""
    return Path(str(resources.files(__package__).joinpath(name)))


def cache_root() -> Path:
    """`$XDG_CACHE_HOME/iec-connector`, default `~/.cache/iec-connector`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "iec-connector"


def default_home() -> Path:
    """`$IEC_KAFKA_HOME`, default `<cache root>/kafka-<version>`."""
    override = os.environ.get(HOME_ENV)
    return Path(override) if override else cache_root() / f"kafka-{KAFKA_VERSION}"


def find_executable(name: str) -> str:
    """`$JAVA_HOME/bin/java` for java, else the PATH entry; DistributionError if missing."""
    if name == "java" and os.environ.get("JAVA_HOME"):
        candidate = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise DistributionError(
            f"`{name}` not found on PATH (the local broker needs Java 17+ and Maven)"
        )
    return found


@dataclass(frozen=True)
class Distribution:
    """A complete broker classpath."""

    home: Path
    version: str

    @property
    def lib(self) -> Path:
        return self.home / "lib"

    @property
    def classpath(self) -> str:
        # One argv element; the JVM expands the wildcard (a shell must never see it).
        return str(self.lib / "*")

    def is_complete(self) -> bool:
        marker = self.lib / _MARKER
        return marker.is_file() and marker.read_text("utf-8").strip() == _pom_digest()


def _pom_digest() -> str:
    return hashlib.sha256(_pom_bytes()).hexdigest()


def _run_maven(mvn: str, home: Path, target: Path, offline: bool, log: Path) -> bool:
    command = [mvn, "-B", "-q"]
    if offline:
        command.append("-o")
    command += [
        f"{_DEPENDENCY_PLUGIN}:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={target}",
    ]
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(command)}\n".encode())
        out.flush()
        result = subprocess.run(
            command, cwd=home, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    return result.returncode == 0


def maven_copy_dependencies(pom: bytes, home: Path, target: Path, *, echo: bool) -> None:
    """Copy the dependencies `pom` declares into `target` (replaced), with Maven in `home`:
    offline first (a warm ~/.m2 needs no network), then online; DistributionError if both fail.
    """
    mvn = find_executable("mvn")
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_bytes(pom)
    shutil.rmtree(target, ignore_errors=True)
    log = home / "maven.log"
    log.write_bytes(b"")
    if _run_maven(mvn, home, target, True, log):
        return
    shutil.rmtree(target, ignore_errors=True)
    if echo:
        print("local-kafka: not all artifacts are in ~/.m2, resolving online (first run)")
    if not _run_maven(mvn, home, target, False, log):
        raise DistributionError(f"Maven could not resolve {home.name}; see {log}")


def ensure_distribution(home: Path | None = None, *, echo: bool = True) -> Distribution:
    """Return the broker's classpath, resolving it with Maven first if it is not cached.

    1. A lib folder whose marker holds the packaged pom's hash is complete: done.
    2. Copy the pom into the home folder and run copy-dependencies into `lib.partial`,
       offline first (a warm ~/.m2 needs no network), then online.
    3. Check the broker jar is there, write the marker, and swap `lib.partial` in as `lib`.
    """
    distribution = Distribution(home or default_home(), KAFKA_VERSION)
    # 1. Cached?
    if distribution.is_complete():
        return distribution
    home_dir = distribution.home
    # 2. Resolve.
    partial = home_dir / "lib.partial"
    started = time.monotonic()
    if echo:
        print(f"local-kafka: assembling Apache Kafka {KAFKA_VERSION} with Maven into {home_dir}")
    maven_copy_dependencies(_pom_bytes(), home_dir, partial, echo=echo)
    # 3. Verify and publish atomically.
    broker_jar = partial / f"kafka_2.13-{KAFKA_VERSION}.jar"
    if not broker_jar.is_file():
        log = home_dir / "maven.log"
        raise DistributionError(f"Maven finished but {broker_jar.name} is missing; see {log}")
    (partial / _MARKER).write_text(_pom_digest() + "\n", "utf-8")
    shutil.rmtree(distribution.lib, ignore_errors=True)
    partial.rename(distribution.lib)
    if echo:
        jars = len(list(distribution.lib.glob("*.jar")))
        print(f"local-kafka: {jars} jars ready in {time.monotonic() - started:.1f} s")
    return distribution
