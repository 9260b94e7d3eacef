"""Which configuration keys hold secrets, and masking them in messages."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from connector.config.redaction import is_secret_key, redact, secret_values_in


@pytest.mark.parametrize(
    "key",
    [
        "sasl_password",
        "ssl.key.password",
        "api_key",
        "apiKey",
        "client_secret",
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.config",
        "access_token",
        "private-key",
        "basic.auth.user.info",
        "db_pass",
    ],
)
def test_secret_looking_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["base_url", "author", "compass", "passthrough", "linger.ms", "key_field", "username"]
)
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_finds_values_under_secret_keys_at_any_depth() -> None:
    data = {
        "base_url": "https://x",
        "auth": {"client_secret": "s1", "nested": [{"token": "t2"}], "user": "u"},
        "api_key": 12345,
        "typed": SecretStr("s3"),
        "enabled": True,
    }

    assert sorted(secret_values_in(data)) == ["12345", "s1", "s3", "t2"]


def test_redact_masks_longest_first_and_ignores_tiny_values() -> None:
    message = "token abcdef and abc and ab in a"

    assert redact(message, ["abc", "abcdef", "ab", ""]) == "token *** and *** and ab in a"
