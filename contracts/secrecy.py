"""What counts as a secret in a configuration, and finding every secret value in one.

One definition for the whole project: the rule-schema translator (`contracts._rules`) makes
the fields `is_secret_name` accepts `SecretStr`; `secret_fields`/`secret_values` of
`contracts.configuration` and the connector's redaction of logs, error messages and
dead-letter headers use `find_secrets` on the configuration and on validated driver configs.

A value is secret when any of these holds:

1. it is a `SecretStr`/`SecretBytes`;
2. it sits under a key `is_secret_name` accepts (at any depth: everything below
   ``credentials:`` is secret), or under one of the dotted `paths` a schema declares secret.
   Unknown ``…_key`` names are secret (fail closed); names that point at or describe a
   secret (``token_url``, ``private_key_path``, ``token_type``) and data keys
   (``partition_key``, ``sort_key``, ``public_key``) are not;
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

# A name is read as words: split at separators and camelCase humps, lower-cased
# (``X-Amz-Signature`` → x, amz, signature; ``sessionId`` → session, id).
#
# First, a name is ordinary when its last word says the value is *about* a secret, not the
# secret itself: where it is, how it is used, how long it lives (token_url, jwks_uri,
# authorization_endpoint, private_key_path, password_file, token_type, secret_name,
# token_ttl, password_min_length, private_network). Such values are still searched for
# embedded credentials (a URL's password) like every ordinary string.
_ORDINARY_LAST_WORDS = frozenset(
    {
        # where: addresses, places, references
        "url",
        "urls",
        "uri",
        "uris",
        "endpoint",
        "endpoints",
        "host",
        "hosts",
        "hostname",
        "port",
        "address",
        "ip",
        "network",
        "subnet",
        "dns",
        "location",
        "path",
        "paths",
        "file",
        "filename",
        "dir",
        "directory",
        "env",
        "var",
        "ref",
        "name",
        "field",
        "param",
        "parameter",
        "prefix",
        # how: kinds, formats, algorithms
        "type",
        "kind",
        "mode",
        "method",
        "scheme",
        "algorithm",
        "alg",
        "format",
        "encoding",
        "version",
        # how long / how many
        "ms",
        "seconds",
        "ttl",
        "timeout",
        "expiry",
        "expiration",
        "lifetime",
        "interval",
        "length",
        "size",
        "count",
    }
)
# Then a name is secret when, with separators removed, it contains one of these ...
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
)
# ... (words that merely contain a part do not count: a tokenizer is not a token) ...
_PART_LOOKALIKES = frozenset({"tokenizer", "tokenizers", "tokenize", "tokenization"})
# ... or one of its words is one of these ...
_SECRET_WORDS = frozenset({"pass", "pwd"})
# ... or it ends with "key"/"keys" (api_key, ssh_key, access_key, signingKey, webhook-key,
# an unknown foo_key too: fail closed), or with "key" + "pem" (librdkafka's ssl.key.pem, an
# inline private key) ...
_SECRET_KEY_ENDINGS = ("key", "keys", "keypem")
# ... unless the word before "key" makes it a data key, which names a field or a value,
# never a credential (partition_key, sortKey, primary_key, idempotency_key, public_key,
# magento2's url_key) ...
_DATA_KEY_WORDS = frozenset(
    {
        "partition",
        "sort",
        "routing",
        "primary",
        "foreign",
        "unique",
        "composite",
        "natural",
        "surrogate",
        "cache",
        "idempotency",
        "idempotence",
        "dedup",
        "dedupe",
        "deduplication",
        "lookup",
        "public",
        "url",
        "hash",
        "range",
        "shard",
        "sharding",
        "join",
        "index",
        "group",
        "grouping",
        "order",
        "ordering",
        "sequence",
        "cursor",
        "correlation",
        "message",
        "record",
        "row",
        "object",
        "entity",
        "event",
        "parent",
        "translation",
    }
)
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

    Generous where it does not know a name (any ``…_key`` is secret: masking a harmless value
    costs little, missing a secret leaks it), but names that only point at or describe a
    secret (``token_url``, ``private_key_path``) and data keys (``partition_key``) are not.
    """
    words = [word.lower() for word in _WORD.findall(name)]
    if not words or words[-1] in _ORDINARY_LAST_WORDS:
        return False
    compact = "".join(words)
    if any(
        part in "".join(w for w in words if w not in _PART_LOOKALIKES) for part in _SECRET_PARTS
    ):
        return True
    if compact.endswith(_SECRET_KEY_ENDINGS) and not _is_data_key(words):
        return True
    if words[-1] in _SECRET_LAST_WORDS or compact.endswith(_SESSION_ID_ENDINGS):
        return True
    return any(word in _SECRET_WORDS for word in words)


def _is_data_key(words: list[str]) -> bool:
    """Whether the word before the trailing "key" (``partition_key``, ``sortkey``,
    ``public_key_pem``) is a `_DATA_KEY_WORDS` word."""
    if words[-1] == "pem":
        words = words[:-1]
    last = words[-1] if words else ""
    for ending in ("key", "keys", "keypem"):
        if last == ending:
            return len(words) > 1 and words[-2] in _DATA_KEY_WORDS
        if last.endswith(ending):
            return last[: -len(ending)] in _DATA_KEY_WORDS
    return False


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
