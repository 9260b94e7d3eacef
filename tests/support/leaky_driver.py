"""A careless driver for the canary tests: it pushes its secrets out every way a driver can.

Configured with canary secrets, each batch it handles:

1. logs them: in the message, in a dict-valued `extra`, with a traceback;
2. `warnings.warn`s one;
3. lets an exception carrying one escape from a thread it spawned;
4. fails every mutation permanently with an error whose message and cause hold the secrets
   raw, URL-quoted (``/`` kept), as the bytes repr of their UTF-8, and base64'd in a
   ``Basic`` header, plus the DSN with its password; then every secret (the passwords of
   `dsn` and `proxy_url` included) in every encoding the redactor covers (`encoded`).

With `fail_open`, `open()` raises with the secrets in its message instead.
"""

from __future__ import annotations

import base64
import json
import threading
import warnings
from collections.abc import Sequence
from urllib.parse import quote, quote_plus, urlsplit

from pydantic import BaseModel

from contracts import AbstractDriver, MutationData, PermanentError


class LeakyConfig(BaseModel):
    base_url: str
    api_key: str
    """Secret by its name."""
    access_key: str
    """Secret by its name only (plain `str`): the runtime used to miss it."""
    dsn: str
    """``postgresql://user:PASSWORD@host/db``: the password is a secret by being in a URL."""
    proxy_url: str = ""
    """``https://user:PASS@WORD@proxy``: an unencoded '@' in a URL's password."""
    short_token: str = ""
    """Too short to redact: the runtime warns about it at start."""
    fail_open: bool = False


class LeakyDriver(AbstractDriver):
    supported_entity_types = ("product",)

    def get_name(self) -> str:
        return "Leaky"

    def get_type(self) -> str:
        return "leaky"

    def get_version(self) -> str:
        return "0.0.1"

    def get_configuration_schema(self) -> type[BaseModel]:
        return LeakyConfig

    @property
    def cfg(self) -> LeakyConfig:
        assert isinstance(self.config, LeakyConfig)
        return self.config

    def open(self) -> None:
        if self.cfg.fail_open:
            raise ConnectionError(
                f"cannot reach {self.cfg.dsn} with key {self.cfg.api_key} ({self.cfg.access_key})"
            )

    def handle(self, mutation: MutationData) -> None:
        self.handle_batch([mutation])

    def handle_batch(self, mutations: Sequence[MutationData]) -> None:
        cfg = self.cfg
        # 1. logs
        self.logger.warning(
            "calling %s with key %s", cfg.base_url, cfg.api_key, extra={"auth": cfg.model_dump()}
        )
        try:
            raise RuntimeError(f"session for {cfg.access_key} expired")
        except RuntimeError:
            self.logger.exception("re-authenticating", extra={"dsn": cfg.dsn})
        # 2. a warning
        warnings.warn(f"key {cfg.api_key} expires soon", RuntimeWarning, stacklevel=2)
        # 3. a thread of its own that dies
        thread = threading.Thread(target=self._background, name="leaky-refresh")
        thread.start()
        thread.join()
        # 4. every mutation fails with the secrets in every encoding
        user, password = "shop", cfg.dsn.split(":")[2].split("@")[0]
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        secrets = [cfg.api_key, cfg.access_key, password]
        if cfg.proxy_url:
            secrets.append(urlsplit(cfg.proxy_url).password or "")
        raise PermanentError(
            f"refused: url {cfg.base_url}?key={quote(cfg.api_key)} body "
            f"{cfg.access_key.encode()!r} Authorization: Basic {basic} dsn {cfg.dsn} "
            f"proxy {cfg.proxy_url} forms: {' '.join(encoded(s) for s in secrets)}"
        ) from ValueError(f"upstream said: api_key={cfg.api_key}")

    def _background(self) -> None:
        raise OSError(f"token refresh failed for {self.cfg.access_key}")


def encoded(secret: str) -> str:
    """`secret` in every form the redactor promises to mask, one ``name=form`` each."""
    basic = base64.b64encode(f"shop:{secret}".encode()).decode()
    forms = {
        "quote": quote(secret),
        "quote-all": quote(secret, safe=""),
        "plus": quote_plus(secret),
        "utf8": repr(secret.encode()),
        "json": json.dumps(secret),
        "basic": f"Basic {basic}",
    }
    return " ".join(f"{name}={form}" for name, form in forms.items())
