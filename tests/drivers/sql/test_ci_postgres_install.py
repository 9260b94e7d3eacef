""".ci/run's postgres-install step, run in bash with stand-ins for id, sudo and apt-get.

The step is the function `postgres_install` of .ci/run, taken out of the script as it is; the
stand-ins only record how they were called, so nothing is installed here.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

CI_RUN = Path(__file__).resolve().parents[3] / ".ci" / "run"

_RECORDER = """#!/bin/bash
echo "${0##*/} $* [DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-}]" >> "$CALLS"
"""
_SUDO = """#!/bin/bash
echo "sudo $*" >> "$CALLS"
exec "$@"
"""


def _function(name: str) -> str:
    found = re.search(rf"^{name}\(\) \{{\n.*?^\}}\n", CI_RUN.read_text(), re.M | re.S)
    assert found, f"{name}() is not in {CI_RUN}"
    return found.group(0)


def _install(tmp_path: Path, uid: int) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "id").write_text(f"#!/bin/bash\necho {uid}\n")
    (stubs / "apt-get").write_text(_RECORDER)
    (stubs / "sudo").write_text(_SUDO)
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    (stubs / "env").symlink_to("/usr/bin/env")
    calls = tmp_path / "calls"
    calls.touch()
    # No server on this "machine": compgen (a builtin) is shadowed, pg_ctl is not on PATH.
    script = "compgen() { return 1; }\n" + _function("postgres_install") + "postgres_install\n"
    done = subprocess.run(
        ["/bin/bash", "-euo", "pipefail", "-c", script],
        env={"PATH": str(stubs), "CALLS": str(calls), "HOME": os.environ.get("HOME", "/")},
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done, calls.read_text().splitlines()


@pytest.mark.parametrize(("uid", "sudo"), [(1000, True), (0, False)])
def test_postgresql_is_installed_through_sudo_unless_root(
    tmp_path: Path, uid: int, sudo: bool
) -> None:
    done, calls = _install(tmp_path, uid)

    assert done.returncode == 0, done.stderr
    installs = [c for c in calls if c.startswith("apt-get install")]
    assert len(installs) == 1
    assert " postgresql " in installs[0]
    assert installs[0].endswith("[DEBIAN_FRONTEND=noninteractive]")
    assert any(c.startswith("apt-get update") for c in calls)
    assert any(c.startswith("sudo ") for c in calls) is sudo
