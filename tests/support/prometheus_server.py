"""A real Prometheus server (the Debian `prometheus` package) for tests, and `promtool`.

`.ci/run` installs the package when it is missing; a test that needs it fails (never skips)
with that hint when the binary is not there.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest
import yaml

_HINT = "install the Debian package `prometheus` (apt-get install prometheus; .ci/run does it)"


def tool(name: str) -> str:
    """The path of `prometheus` or `promtool`; fails the test with the install hint."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` not found: {_HINT}")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrometheusServer:
    """`prometheus` scraping `targets` every `scrape_s` seconds, bound to 127.0.0.1, with
    its data in `folder`; a context manager that stops it (SIGTERM, then SIGKILL)."""

    def __init__(
        self,
        folder: Path,
        targets: Sequence[str],
        *,
        scrape_s: float = 1.0,
        job: str = "iec-connector",
    ) -> None:
        self.folder = folder
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        interval = f"{int(scrape_s * 1000)}ms"
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
        }
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        self._log = folder / "prometheus.log"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PrometheusServer:
        command = [
            tool("prometheus"),
            f"--config.file={self.folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while True:
            if self._process.poll() is not None:
                raise AssertionError(f"prometheus exited: {self._log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "prometheus did not get ready in 60 s"
            time.sleep(0.2)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector `expr` evaluates to now (`[]` when it has no data)."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert body.get("status") == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def targets_up(self) -> list[str]:
        """The scrape URLs whose last scrape succeeded."""
        body = httpx.get(f"{self.url}/api/v1/targets", timeout=10).json()
        return [t["scrapeUrl"] for t in body["data"]["activeTargets"] if t["health"] == "up"]
