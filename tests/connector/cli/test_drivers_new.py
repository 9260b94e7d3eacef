"""`iec-connector drivers new NAME`: the package installs with `pip install -e` and its
contract-suite tests pass as generated."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from connector.driver_scaffold import DriverNames, ScaffoldError, render_package

Invoke = Callable[..., Result]


def test_names_are_derived_from_the_driver_type() -> None:
    names = DriverNames.of("acme-shop2")
    assert names.distribution == "iec-driver-acme-shop2"
    assert names.module == "iec_driver_acme_shop2"
    assert names.class_name == "AcmeShop2Driver"
    assert names.title == "Acme Shop2"
    files = render_package(names)
    assert 'acme-shop2 = "iec_driver_acme_shop2:AcmeShop2Driver"' in files["pyproject.toml"]
    assert "class AcmeShop2Driver(AsyncHttpDriver):" in files["src/iec_driver_acme_shop2/driver.py"]
    assert "${API_TOKEN}" in files["README.md"]
    for text in files.values():
        assert "$" not in text.replace("${API_TOKEN}", "")  # every placeholder was filled


@pytest.mark.parametrize("name", ["Acme", "acme_shop", "-acme", "acme--shop", "1shop", ""])
def test_a_bad_name_is_refused_with_the_rule(name: str) -> None:
    with pytest.raises(ScaffoldError, match="lowercase letters, digits and single dashes"):
        DriverNames.of(name)


def test_an_existing_directory_with_files_is_not_overwritten(
    invoke: Invoke, tmp_path: Path
) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = invoke("drivers", "new", "acme", "--path", tmp_path)
    assert result.exit_code == 2
    assert "already exists and is not an empty directory" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("name", ["webhook", "example"])
def test_the_type_of_an_installed_driver_is_refused(
    invoke: Invoke, tmp_path: Path, name: str
) -> None:
    # Installing a second driver of that type would make discovery raise DuplicateDriverError
    # in every command (drivers list, run).
    package = tmp_path / "pkg"
    result = invoke("drivers", "new", name, "--path", package)
    assert result.exit_code == 2
    assert f"driver type {name!r} is already installed by iec-connector" in result.stderr
    assert "choose another name" in result.stderr
    assert not package.exists()


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )


def test_the_generated_package_installs_editable_and_passes_its_tests(
    invoke: Invoke, tmp_path: Path
) -> None:
    package = tmp_path / "iec-driver-acme-shop"
    result = invoke("drivers", "new", "acme-shop", "--path", package)
    assert result.exit_code == 0, result.output
    assert "pip install -e" in result.stdout

    # A fresh virtual environment that sees this one's packages (no downloads, no build
    # isolation), into which the package is installed exactly as its README says.
    venv = tmp_path / "venv"
    made = _run(sys.executable, "-m", "venv", "--without-pip", venv)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    parent = sysconfig.get_paths()["purelib"]
    Path(purelib.stdout.strip(), "_parent_env.pth").write_text(
        f"import site; site.addsitedir({parent!r})\n"
    )
    installed = _run(
        python, "-m", "pip", "install", "-q", "-e", package, "--no-deps", "--no-build-isolation"
    )
    assert installed.returncode == 0, installed.stderr

    tests = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=package)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout
    assert "failed" not in tests.stdout

    found = _run(
        python,
        "-c",
        "from connector.driver_registry import DriverRegistry;"
        "info = DriverRegistry.discover().info('acme-shop');"
        "print(info.distribution, info.schema_problem)",
        cwd=tmp_path,
    )
    assert found.stdout.split() == ["iec-driver-acme-shop", "None"], found.stderr
