"""What counts as a secret in a configuration, and finding every secret value in one.

One definition for the whole project: the rule-schema translator (`contracts._rules`) makes
the fields `is_secret_name` accepts `SecretStr`; `secret_fields`/`secret_values` of
`contracts.configuration` and the connector's redaction of logs, error messages and
dead-letter headers use `find_secrets` on the configuration and on validated driver configs.

A value is secret when any of these holds:

1. it is a `SecretStr`/`SecretBytes`;
2. it sits under a key `is_secret_name` accepts (at any depth: everything below
   ``credentials:`` is secret), or under one of the dotted `paths` a schema declares secret;
3. it is embedded in an ordinary string as a credential: the password of a URL or DSN
   (``postgresql://shop:PASSWORD@db/shop``, also percent-decoded; up to the host's last
   ``@``, as URL parsers read it) or the value of a
   secret-named ``name=value`` pair (``?access_token=…``, ``password=…`` in a libpq DSN,
   ``Pwd=…;`` in an ODBC connection string).

A secret-named string that is only a scheme's name (``auth: oauth``) is not a secret.

Pure, and pydantic is the only dependency, so drivers, contracts and the connector share it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

from pydantic import BaseModel, SecretBytes, SecretStr

__all__ = ["FoundSecret", "embedded_credentials", "find_secrets", "is_secret_name"]

# Lower-cased names with separators removed contain one of these ...
_SECRET_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "private",
    "authorization",
    "authheader",
    "apikey",
    "userinfo",
    "oauthbearerconfig",
    "keypem",  # librdkafka's ssl.key.pem: an inline private key
)
# ... or one of their words (split at separators and camelCase humps) is one of these ...
_SECRET_WORDS = frozenset({"pass", "pwd"})
# ... or the name ends with "key" (api_key, ssh_key, access_key, signingKey, webhook-key) ...
_SECRET_SUFFIX = "key"
# ... or its last word is one of these (basic_auth, bearer, jwt, session_cookie, hmac, Azure
# SAS's sig=, session=; not auth_type, cookie_name, signature_algorithm, session_timeout_ms) ...
_SECRET_LAST_WORDS = frozenset(
    {"auth", "oauth", "bearer", "jwt", "cookie", "cookies", "hmac", "signature", "sig", "session"}
)
# ... or it ends with a session id's name (session_id, sessionId, JSESSIONID, PHPSESSID).
_SESSION_ID_ENDINGS = ("sessionid", "sessid")
# A secret-named field holding only the name of a scheme (magento2's ``auth: oauth|bearer``,
# ``auth: {type: basic, ...}``) says which kind of credential is used: it is not one.
_SCHEME_NAMES = frozenset(
    {
        "none",
        "basic",
        "bearer",
        "digest",
        "oauth",
        "oauth1",
        "oauth2",
        "oauthbearer",
        "hmac",
        "jwt",
        "ntlm",
        "negotiate",
        "kerberos",
        "gssapi",
        "plain",
        "scram-sha-256",
        "scram-sha-512",
        "mtls",
    }
)
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def is_secret_name(name: str) -> bool:
    """Whether a configuration key names a secret (``sasl.password``, ``api_key``, ``db_pass``).

    Deliberately generous: masking a harmless value costs little, missing a secret leaks it.
    """
    lowered = name.lower()
    compact = re.sub(r"[^a-z0-9]", "", lowered)
    if any(part in compact for part in _SECRET_PARTS) or compact.endswith(_SECRET_SUFFIX):
        return True
    words = [word.lower() for word in _WORD.findall(name)]
    if (words and words[-1] in _SECRET_LAST_WORDS) or compact.endswith(_SESSION_ID_ENDINGS):
        return True
    return any(word in _SECRET_WORDS for word in words)


@dataclass(frozen=True, slots=True)
class FoundSecret:
    """A secret value and where it was found (``kafka.sasl_password``,
    ``integrations[0].config.dsn``): the place, never the value, may be shown to people."""

    where: str
    value: str = ""

    def __repr__(self) -> str:
        return f"FoundSecret(where={self.where!r})"


def find_secrets(
    value: object, *, paths: Collection[str] = (), where: str = ""
) -> list[FoundSecret]:
    """Every secret value in `value` (mappings, sequences, pydantic models, any nesting).

    `paths` are dotted key paths (relative to `value`) that are secret whatever their name,
    e.g. the secret fields a schema declares. Empty values are skipped.
    """
    found = [s for s in _walk(value, where, "", False, frozenset(paths)) if s.value]
    return found


def embedded_credentials(text: str) -> list[str]:
    """Credentials inside an ordinary string: URL/DSN passwords (as written and
    percent-decoded) and the values of secret-named ``name=value`` pairs."""
    values: list[str] = []
    for match in _URL_USERINFO.finditer(text):
        password = match.group("password")
        values += [password, unquote(password)]
    for match in _PAIR.finditer(text):
        if is_secret_name(match.group("name")):
            raw = match.group("value")
            if raw[:1] in ("'", '"', "{") and len(raw) >= 2:
                raw = raw[1:-1]
            values += [raw, unquote_plus(raw)]
    return list(dict.fromkeys(v for v in values if v))


# scheme://user:password@host — the password runs to the authority's LAST '@' (before the
# first '/', '?', '#' or whitespace), as urllib, httpx and SQLAlchemy split it: an unencoded
# '@' in a password ("pa@ss-Wd1234") belongs to the password.
_URL_USERINFO = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#@:]*:(?P<password>[^\s/?#]+)@", re.ASCII
)
# name=value after a start, '?', '&', ';' or whitespace; quoted values as libpq/ODBC write them.
_PAIR = re.compile(
    r"(?:^|(?<=[?&;\s]))(?P<name>[A-Za-z_][\w.\-]*)\s*=\s*"
    r"(?P<value>'[^']*'|\"[^\"]*\"|\{[^}]*\}|[^&;\s]+)"
)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _walk(
    value: object, where: str, path: str, secret: bool, paths: frozenset[str]
) -> Iterator[FoundSecret]:
    """`where` is the place shown to people; `path` the dotted key path matched to `paths`."""
    secret = secret or (bool(path) and path in paths)
    if isinstance(value, SecretStr):
        yield FoundSecret(where, value.get_secret_value())
    elif isinstance(value, SecretBytes):
        yield FoundSecret(where, value.get_secret_value().decode("utf-8", "replace"))
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            key = info.alias or name
            yield from _walk(
                getattr(value, name),
                _join(where, key),
                _join(path, key),
                secret or is_secret_name(key) or is_secret_name(name),
                paths,
            )
        for key, item in (value.model_extra or {}).items():
            yield from _walk(
                item, _join(where, key), _join(path, key), secret or is_secret_name(key), paths
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            text = str(key)
            yield from _walk(
                item,
                _join(where, text),
                _join(path, text),
                secret or (isinstance(key, str) and is_secret_name(key)),
                paths,
            )
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            yield from _walk(item, f"{where}[{index}]", path, secret, paths)
    elif isinstance(value, str):
        if secret:
            if value.lower() not in _SCHEME_NAMES:
                yield FoundSecret(where, value)
        else:
            for credential in embedded_credentials(value):
                yield FoundSecret(where, credential)
    elif isinstance(value, bytes):
        if secret:
            yield FoundSecret(where, value.decode("utf-8", "replace"))
    elif secret and isinstance(value, int | float) and not isinstance(value, bool):
        yield FoundSecret(where, str(value))
