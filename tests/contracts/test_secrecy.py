"""One definition of a secret: names, typed fields, everything below them, URL credentials."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from contracts import RuleConfiguration, secret_fields, secret_values, validate_configuration
from contracts.secrecy import embedded_credentials, find_secrets, is_secret_name

# The union of what the rule-schema translator and the connector's redaction each called
# secret before they shared one predicate (they disagreed on most of these).
SECRET_KEYS = [
    "sasl_password",
    "ssl.key.password",
    "ssl.key.pem",
    "api_key",
    "apiKey",
    "api-key",
    "apikey",
    "client_secret",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.config",
    "access_token",
    "private-key",
    "private_pem",
    "basic.auth.user.info",
    "db_pass",
    "dbPass",
    "ssh_key",
    "access_key",
    "signing_key",
    "client_key",
    "webhook_key",
    "hmacKey",
    "authorization",
    "auth_header",
    "credentials",
    "passphrase",
    "Pwd",
    # the last word names a credential
    "auth",
    "basic_auth",
    "basicAuth",
    "proxy-auth",
    "oauth",
    "bearer",
    "jwt",
    "cookie",
    "session_cookie",
    "hmac",
    "signature",
    "X-Amz-Signature",
    "sig",
    "session",
    "session_id",
    "sessionId",
    "JSESSIONID",
    "PHPSESSID",
    # any other ..._key stays secret (fail closed), also with a data-ish word elsewhere
    "encryption_key",
    "license_key",
    "master_key",
    "shared_key",
    "hmac_key",
    "ssl_key",
    "key",
    "sortable_api_key",
    "acme_partner_key",
    "api_keys",
    "private_key",
    "private_key_id",
    "refresh_token",
    "accessToken",
    "client_secret_value",
    "ssl.keystore.password",
]
ORDINARY_KEYS = [
    "base_url",
    "author",
    "compass",
    "passthrough",
    "passenger",
    "bypass",
    "linger.ms",
    "key_field",
    "keyword",
    "username",
    "ssl_key_location",
    "ssl.certificate.location",
    "dsn",
    "url",
    # a credential's word that is not the last word names something about it
    "auth_type",
    "authentication_method",
    "cookie_name",
    "signature_algorithm",
    "signature_header",
    "session_timeout_ms",
    "jwt_audience",
    "design",
    "config",
    # the last word says where or what kind: the value points at or describes a secret
    "token_url",
    "oauth_token_url",
    "authorization_url",
    "authorization_endpoint",
    "jwks_uri",
    "sasl.oauthbearer.token.endpoint.url",
    "private_key_path",
    "private_network",
    "password_file",
    "client_secret_file",
    "secret_name",
    "token_type",
    "token_ttl",
    "password_min_length",
    "session.timeout.ms",
    "ssl.keystore.location",
    # data keys name a field or a value, never a credential
    "partition_key",
    "partitionKey",
    "sort_key",
    "sortkey",
    "routing_key",
    "primary_key",
    "foreign_key",
    "cache_key",
    "idempotency_key",
    "idempotencyKey",
    "dedup_key",
    "lookup_key",
    "public_key",
    "public_key_pem",
    "url_key",  # magento2's field_map entry
    "message_key",
    "hash_key",
    # a word that merely contains a secret word
    "tokenizer",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_names(key: str) -> None:
    assert is_secret_name(key)


@pytest.mark.parametrize("key", ORDINARY_KEYS)
def test_ordinary_names(key: str) -> None:
    assert not is_secret_name(key)


@pytest.mark.parametrize("key", [key for key in SECRET_KEYS if "." not in key])  # dots nest rules
def test_rule_schemas_and_pydantic_models_agree_on_every_secret_name(key: str) -> None:
    rules = {key: "required|string", "base_url": "required|string"}
    model = type(
        "DriverConfig",
        (BaseModel,),
        {
            "__annotations__": {"value": str, "base_url": str},
            "model_config": {"populate_by_name": True},
            "value": _aliased(key),
        },
    )
    data = {key: "v4lue-of-the-secret", "base_url": "https://shop.test"}

    assert secret_fields(rules) == {key}
    assert secret_fields(model) == {key}
    assert secret_values(validate_configuration(rules, data)) == ["v4lue-of-the-secret"]
    assert secret_values(validate_configuration(model, data)) == ["v4lue-of-the-secret"]


def _aliased(key: str) -> Any:
    from pydantic import Field

    return Field(alias=key)


def test_urls_and_data_keys_keep_their_values() -> None:
    # A driver calls self.config.token_url; the runtime must not mask "product" and
    # "updated_at" in every log line because an integration routes and sorts by them.
    rules = {"token_url": "required|url", "partition_key": "in:sku,id", "api_key": "string"}
    data = {"token_url": "https://id.test/token", "partition_key": "sku", "api_key": "k3y-v4lue"}
    config = validate_configuration(rules, data)
    assert isinstance(config, RuleConfiguration)
    assert config.token_url == "https://id.test/token"
    assert config.partition_key == "sku"
    assert secret_values(config) == ["k3y-v4lue"]
    routed = {"routing_key": "product", "sort_key": "updated_at", "webhook_url": "https://h/x"}
    assert find_secrets(routed) == []
    # an ordinary name still gives up the credentials embedded in its value
    (found,) = find_secrets({"token_url": "https://svc:Pa55-w0rd@id.test/token"})
    assert found.value == "Pa55-w0rd"


def test_values_under_secret_keys_at_any_depth_and_typed_secrets() -> None:
    data = {
        "base_url": "https://x",
        "auth": {"client_secret": "s1", "nested": [{"token": "t2"}], "user": "u"},
        "credentials": {"user": "svc", "password": "pw"},
        "api_key": 12345,
        "typed": SecretStr("s3"),
        "enabled": True,
        "verify_token": False,
    }

    found = find_secrets(data)

    # everything below "auth" and "credentials" is secret, "user" included
    assert sorted(s.value for s in found) == ["12345", "pw", "s1", "s3", "svc", "t2", "u"]
    assert {s.where for s in found} >= {"auth.client_secret", "auth.nested[0].token", "typed"}


def test_declared_paths_are_secret_whatever_their_name() -> None:
    found = find_secrets({"signing": {"hmac": "abcdef"}}, paths={"signing.hmac"})
    assert [(s.where, s.value) for s in found] == [("signing.hmac", "abcdef")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://shop:Pg-s3cret@db:5432/shop", ["Pg-s3cret"]),
        ("https://user:p%40ss%2Fw0rd@host/api", ["p%40ss%2Fw0rd", "p@ss/w0rd"]),
        ("https://a:one@h1,https://b:two@h2", ["one", "two"]),
        # an unencoded '@' belongs to the password: URL parsers split at the last '@'
        ("https://user:pa@ss-Wd1234@host/x", ["pa@ss-Wd1234"]),
        ("https://user:pa@ss-Wd1234@host?next=a@b", ["pa@ss-Wd1234"]),
        ("https://user:pa@ss-Wd1234@host/p?next=http://c:d@e", ["pa@ss-Wd1234", "d"]),
        ("https://host/p?next=a:b@c", []),
        (
            "https://acct.blob.core.test/c?sv=2022&sig=Az-Sas-Sig%2B1",
            ["Az-Sas-Sig%2B1", "Az-Sas-Sig+1"],
        ),
        ("https://shop.test/?session=Sess-1234-abcd&page=2", ["Sess-1234-abcd"]),
        ("auth=Basic-Zm9vOmJhcg; path=/", ["Basic-Zm9vOmJhcg"]),
        ("https://shop.test/api?access_token=abc123&page=2", ["abc123"]),
        ("host=db user=shop password='a b c' dbname=shop", ["a b c"]),
        ("Server=db;Uid=shop;Pwd={x;y};Database=shop", ["x;y"]),
        ("https://shop.test/api?page=2&sort=name", []),
        ("https://user@host/path", []),
        ("just words = not a pair", []),
    ],
)
def test_credentials_embedded_in_urls_and_dsns(text: str, expected: list[str]) -> None:
    assert embedded_credentials(text) == expected


def test_url_credentials_in_fields_with_ordinary_names_are_secrets() -> None:
    class SqlConfig(BaseModel):
        dsn: str
        url: str

    config = SqlConfig(dsn="postgresql://shop:Pg-s3cret@db/shop", url="https://u:Url-s3cret@h/")
    assert secret_values(config) == ["Url-s3cret", "Pg-s3cret"]  # longest first
    found = find_secrets({"integrations": [{"config": {"dsn": config.dsn}}]})
    assert [(s.where, s.value) for s in found] == [("integrations[0].config.dsn", "Pg-s3cret")]


def test_a_url_password_with_an_unencoded_at_sign_is_masked_whole() -> None:
    from urllib.parse import urlsplit

    url = "https://user:pa@ss-Wd1234@shop.test/x"
    (secret,) = find_secrets({"url": url})
    assert secret.value == urlsplit(url).password == "pa@ss-Wd1234"


def test_credentials_under_auth_cookie_and_signature_names_are_found() -> None:
    data = {
        "basic_auth": "shop:Canary-Basic-777",
        "auth": "Bearer Canary-Bearer-888",
        "jwt": "eyJhbGciOi.Canary.Jwt",
        "cookie": "sid=Canary-Cookie-999",
        "hmac": "Canary-Hmac-000",
        "session_id": "Canary-Session-111",
        "auth_type": "basic",
    }
    assert sorted(s.where for s in find_secrets(data)) == [
        "auth",
        "basic_auth",
        "cookie",
        "hmac",
        "jwt",
        "session_id",
    ]


def test_a_secret_named_field_holding_a_scheme_name_is_no_secret() -> None:
    # magento2's `auth: oauth|bearer` chooses the kind of credential; masking "bearer" in
    # every log line and warning that "oauth" is too short to redact would help nobody.
    data = {"auth": "oauth", "proxy": {"auth": {"type": "Basic", "password": "Pr0xy-pass"}}}
    assert [s.value for s in find_secrets(data)] == ["Pr0xy-pass"]
    assert [s.value for s in find_secrets({"auth": "bearer Tok-3n-value"})] == [
        "bearer Tok-3n-value"
    ]


def test_a_found_secret_never_shows_its_value() -> None:
    (secret,) = find_secrets({"password": "hunter2-value"})
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
