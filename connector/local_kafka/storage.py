"""The broker's KRaft storage: formatted once with the test users, reused while it matches."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from .distribution import Distribution, resource_path
from .errors import LocalKafkaError
from .processes import read_json
from .settings import BrokerSettings, ScramUser, new_cluster_id, scram_format_arguments

__all__ = ["format_storage"]

# One short-lived JVM: the C1 compiler alone starts faster.
_TOOL_JVM_OPTIONS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


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


def format_storage(
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
        record = read_json(record_path)
        mismatch = []
        if record.get("controller") != controller:
            mismatch.append(f"controller {record.get('controller')} (now {controller})")
        if users and record.get("scram_users") != digest:
            mismatch.append("SCRAM test users (this version adds `runtime`) or password")
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
