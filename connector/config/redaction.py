"""Finding secret values in configuration and keeping them out of messages.

Secrets are typed `SecretStr` where the schema knows them; for free-form mappings (librdkafka
pass-through properties, driver configs before validation) a key that *looks* secret
(``password``, ``secret``, ``token``, ``api_key`` …) marks its value as one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import SecretStr

from connector.redaction import Redactor

__all__ = ["is_secret_key", "redact", "secret_values_in"]

_SECRET_KEY = re.compile(
    r"passw(or)?d|passphrase|(^|[._-])pass($|[._-])|secret|token|api[._-]?key|private[._-]?key"
    r"|credential|authorization|auth[._-]?(key|header)|user[._-]?info|sasl[._]oauthbearer[._]config",
    re.IGNORECASE,
)


def is_secret_key(name: str) -> bool:
    """Whether a configuration key names a secret (``sasl.password``, ``api_key``, …)."""
    return bool(_SECRET_KEY.search(name))


def secret_values_in(data: Any) -> list[str]:
    """String values stored under secret-looking keys anywhere in nested mappings and lists."""
    found: list[str] = []

    def walk(value: Any, secret: bool) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, secret or (isinstance(key, str) and is_secret_key(key)))
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item, secret)
        elif secret and isinstance(value, str | int) and not isinstance(value, bool):
            found.append(str(value))

    walk(data, False)
    return [value for value in found if value]


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret (and its encoded forms) replaced by ``***``."""
    return Redactor(secrets).redact(text)
