"""`iec-connector drivers new NAME`: a driver package that installs and passes its tests.

1. Derive the names from NAME (``acme-shop`` → distribution ``iec-driver-acme-shop``,
   module ``iec_driver_acme_shop``, class ``AcmeShopDriver``, driver type ``acme-shop``).
2. Render the templates of ``template/`` (`string.Template`, ``$name`` placeholders): an
   `driverkit.AsyncHttpDriver` for a REST downstream, its ``iec.drivers`` entry point, the
   contract suite run against a fake downstream injected as an httpx transport, a README.
3. Write them under the target directory, which must not exist or be empty.

Pure except for step 3 (`write_package`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

__all__ = ["DriverNames", "ScaffoldError", "render_package", "write_package"]

_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")

# template file → path in the package ({module} is replaced)
_FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "gitignore.tmpl": ".gitignore",
    "init.py.tmpl": "src/{module}/__init__.py",
    "driver.py.tmpl": "src/{module}/driver.py",
    "py.typed.tmpl": "src/{module}/py.typed",
    "fake_downstream.py.tmpl": "tests/fake_downstream.py",
    "test_driver.py.tmpl": "tests/test_driver.py",
}


class ScaffoldError(ValueError):
    """NAME or the target directory cannot be used; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class DriverNames:
    """Every name the package uses, derived from the driver type."""

    driver_type: str
    distribution: str
    module: str
    class_name: str
    title: str

    @classmethod
    def of(cls, name: str) -> DriverNames:
        """Step 1. `name` is the driver type: lowercase letters, digits and single dashes."""
        if not _NAME.fullmatch(name):
            raise ScaffoldError(
                f"driver name {name!r}: use lowercase letters, digits and single dashes, "
                f"starting with a letter (e.g. acme-shop)"
            )
        words = name.split("-")
        return cls(
            driver_type=name,
            distribution=f"iec-driver-{name}",
            module=f"iec_driver_{name.replace('-', '_')}",
            class_name="".join(w.capitalize() for w in words) + "Driver",
            title=" ".join(w.capitalize() for w in words),
        )


def render_package(names: DriverNames) -> dict[str, str]:
    """Step 2: relative path → file text."""
    values = {
        "driver_type": names.driver_type,
        "distribution": names.distribution,
        "module": names.module,
        "class_name": names.class_name,
        "title": names.title,
    }
    folder = resources.files(__package__).joinpath("template")
    return {
        path.format(module=names.module): Template(
            folder.joinpath(template).read_text(encoding="utf-8")
        ).substitute(values)
        for template, path in _FILES.items()
    }


def write_package(names: DriverNames, target: Path) -> list[Path]:
    """Step 3: write the package into `target` (created; refused if it has files)."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists and is not an empty directory")
    files = render_package(names)
    written = []
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
