"""``${VAR}`` and ``${VAR:-default}`` references in configuration values, from the environment.

Only string values are interpolated (never keys), before validation, so a secret can stay in
the environment while the file names it. ``$${`` stands for a literal ``${``. Problems name
the path and the variable, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from contracts import ConfigProblem

__all__ = ["interpolate", "join_path"]

_REFERENCE = re.compile(
    r"\$\$\{"  # escaped: a literal "${"
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<default>:-[^}]*)?\}"
    r"|(?P<malformed>\$\{)"
)


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def join_path(base: str, part: str | int) -> str:
    """Extend a problem path by a list index or a key.

    ``integrations`` + 0 -> ``integrations[0]``; ``kafka`` + ``extra`` -> ``kafka.extra``; a key
    that is not a plain name is quoted: ``kafka.extra`` + ``linger.ms`` ->
    ``kafka.extra["linger.ms"]``. A part that already starts with ``[`` is appended as is.
    """
    if isinstance(part, int):
        return f"{base}[{part}]"
    if part.startswith("["):
        return f"{base}{part}"
    if not _PLAIN_KEY.match(part):
        return f'{base}["{part}"]'
    return f"{base}.{part}" if base else part


def interpolate(data: Any, environ: Mapping[str, str]) -> tuple[Any, list[ConfigProblem]]:
    """A copy of `data` with references substituted, and the problems found on the way.

    A variable set to the empty string counts as unset for ``:-`` (as in POSIX shells and
    Compose), so ``${PORT:-9464}`` gives 9464 when PORT is empty.
    """
    problems: list[ConfigProblem] = []

    def substitute(text: str, path: str) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            if match.group("malformed") is not None:
                problems.append(
                    ConfigProblem(
                        path,
                        "env_reference",
                        "malformed ${...} reference: write ${NAME} or ${NAME:-default} "
                        "(and $${ for a literal '${')",
                    )
                )
                return ""
            name = match.group("name")
            default = match.group("default")
            value = environ.get(name)
            if default is not None and not value:
                return default[2:]
            if value is None:
                problems.append(
                    ConfigProblem(
                        path,
                        "env_reference",
                        f"environment variable {name} is not set "
                        f"(set it, or write ${{{name}:-default}})",
                    )
                )
                return ""
            return value

        return _REFERENCE.sub(replace, text) if "${" in text else text

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, str):
            return substitute(value, path)
        if isinstance(value, dict):
            return {key: walk(item, join_path(path, str(key))) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, join_path(path, index)) for index, item in enumerate(value)]
        return value

    return walk(data, ""), problems
