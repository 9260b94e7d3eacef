"""Configuration schemas: Laravel rule dicts translated to pydantic, and pydantic models."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from pydantic import BaseModel, Field, SecretStr, field_validator

from contracts import ConfigurationError, ConfigValidationError
from contracts.configuration import (
    RuleSchemaError,
    configuration_json_schema,
    configuration_model,
    secret_fields,
    secret_values,
    validate_configuration,
)

SECRET = "sk_live_5f9c2a7e-DO-NOT-LEAK"

SEED_SCHEMA = {
    "base_url": "required|url",
    "api_key": "required|string",
    "batch": "nullable|integer|min:1|max:500",
    "mode": "in:a,b",
}


def problems_of(schema: Any, data: dict[str, Any]) -> set[tuple[str, str]]:
    with pytest.raises(ConfigValidationError) as caught:
        validate_configuration(schema, data)
    return {(p.path, p.rule) for p in caught.value.problems}


def value_of(rules: str | list[str], value: Any) -> Any:
    config: Any = validate_configuration({"f": rules}, {"f": value})
    return config.f


def rejects(rules: str | list[str], value: Any) -> str:
    """The rule that rejected `value` for a field `f` with `rules`."""
    with pytest.raises(ConfigValidationError) as caught:
        validate_configuration({"f": rules}, {"f": value})
    ((path, rule, _),) = [(p.path, p.rule, p.message) for p in caught.value.problems]
    assert path == "f"
    return rule


# -- the seed's schema ---------------------------------------------------------------------


def test_seed_schema_accepts_a_valid_configuration_and_types_its_values() -> None:
    config: Any = validate_configuration(
        SEED_SCHEMA,
        {"base_url": "https://shop.test/api", "api_key": SECRET, "batch": "250", "mode": "b"},
    )
    assert config.base_url == "https://shop.test/api"
    assert config.api_key == SecretStr(SECRET)
    assert config.batch == 250
    assert config.mode == "b"


def test_seed_schema_reports_every_failing_field_with_its_rule() -> None:
    assert problems_of(SEED_SCHEMA, {"base_url": "shop", "batch": 0, "mode": "c"}) == {
        ("base_url", "url"),
        ("api_key", "required"),
        ("batch", "min"),
        ("mode", "in"),
    }


def test_optional_fields_may_be_absent_and_nullable_ones_null() -> None:
    config: Any = validate_configuration(
        SEED_SCHEMA, {"base_url": "http://localhost:8080", "api_key": "k", "batch": None}
    )
    assert (config.batch, config.mode) == (None, None)


def test_validated_configuration_is_frozen() -> None:
    config = validate_configuration(SEED_SCHEMA, {"base_url": "https://a.test", "api_key": "k"})
    with pytest.raises(ValueError, match="frozen"):
        config.base_url = "https://b.test"  # type: ignore[attr-defined]


def test_unknown_keys_are_rejected_as_probable_typos() -> None:
    assert problems_of(
        SEED_SCHEMA, {"base_url": "https://a.test", "api_key": "k", "base_ulr": "x"}
    ) == {("base_ulr", "unknown")}


def test_a_configuration_that_is_not_a_mapping_is_one_root_problem() -> None:
    assert problems_of(SEED_SCHEMA, ["base_url"]) == {("<root>", "array")}  # type: ignore[arg-type]


def test_validation_error_is_a_configuration_error_without_a_chained_pydantic_error() -> None:
    with pytest.raises(ConfigValidationError) as caught:
        validate_configuration(SEED_SCHEMA, {})
    assert isinstance(caught.value, ConfigurationError)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


# -- presence rules ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   ", [], {}])
def test_required_rejects_null_and_empty_values(value: Any) -> None:
    assert rejects("required", value) == "required"


def test_required_with_sometimes_is_optional_when_absent_but_checked_when_present() -> None:
    absent: Any = validate_configuration({"f": "sometimes|required|string"}, {})
    assert absent.f is None
    assert rejects("sometimes|required|string", "") == "required"


def test_present_needs_the_key_but_accepts_an_empty_value() -> None:
    assert problems_of({"f": "present"}, {}) == {("f", "present")}
    assert value_of("present", "") == ""


def test_filled_accepts_absence_but_not_an_empty_value() -> None:
    absent: Any = validate_configuration({"f": "filled"}, {})
    assert absent.f is None
    assert rejects("filled", "") == "filled"
    assert rejects("filled", None) == "filled"


def test_null_fails_type_rules_unless_nullable() -> None:
    assert rejects("string", None) == "string"
    assert value_of("nullable|string", None) is None


def test_blank_strings_skip_the_other_rules_as_in_laravel() -> None:
    assert value_of("string|min:5", "") == ""
    assert value_of("integer|min:5", " ") is None  # ConvertEmptyStringsToNull


def test_bail_is_accepted_and_only_the_first_failure_of_a_field_is_reported() -> None:
    assert rejects("bail|string|min:5|in:x", "abc") == "min"


# -- type rules ----------------------------------------------------------------------------


def test_string_accepts_only_strings() -> None:
    assert value_of("string", "x") == "x"
    assert rejects("string", 5) == "string"


@pytest.mark.parametrize(
    ("value", "expected"), [(5, 5), ("42", 42), (" -7 ", -7), ("+3", 3), (4.0, 4), ("0", 0)]
)
def test_integer_accepts_integers_and_integer_strings(value: Any, expected: int) -> None:
    result = value_of("integer", value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize("value", ["4.5", 4.5, "012", "1e3", True, "abc", [1]])
def test_integer_rejects_everything_else(value: Any) -> None:
    assert rejects("integer", value) == "integer"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5), (2.5, 2.5), ("2.5", 2.5), (" 10 ", 10), ("1e3", 1000.0), (".5", 0.5)],
)
def test_numeric_accepts_numbers_and_numeric_strings(value: Any, expected: float) -> None:
    assert value_of("numeric", value) == expected


@pytest.mark.parametrize("value", ["abc", "0x1A", True, float("nan"), "", "1,5"])
def test_numeric_rejects_everything_else(value: Any) -> None:
    if value == "":
        assert value_of("numeric", value) is None  # blank: skipped, as in Laravel
    else:
        assert rejects("numeric", value) == "numeric"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("1", True),
        ("0", False),
        # text, as ${ENV_VAR} substitution gives it: the forms the message names
        ("true", True),
        ("false", False),
        ("TRUE", True),
        (" False ", False),
    ],
)
def test_boolean_accepts_laravels_six_values_and_their_text(value: Any, expected: bool) -> None:
    assert value_of("boolean", value) is expected


@pytest.mark.parametrize("value", ["yes", 2, 1.0, "on", "t", "truthy"])
def test_boolean_rejects_other_values_saying_exactly_what_is_accepted(value: Any) -> None:
    assert rejects("boolean", value) == "boolean"
    with pytest.raises(ConfigValidationError) as caught:
        validate_configuration({"flag": "boolean"}, {"flag": value})
    assert caught.value.problems[0].message == (
        "must be a boolean: true or false, 1 or 0, or the text 'true', 'false', '1', '0'"
    )


def test_array_accepts_lists_and_mappings_as_mutable_copies() -> None:
    source = {"a": [1, 2]}
    result = value_of("array", source)
    assert result == source
    assert result is not source
    assert value_of("array", (1, 2)) == [1, 2]
    assert rejects("array", "a,b") == "array"


def test_array_with_keys_allows_only_those_keys() -> None:
    assert value_of("array:user,pass", {"user": "u"}) == {"user": "u"}
    assert rejects("array:user,pass", {"user": "u", "other": 1}) == "array"


# -- format rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "https://shop.test",
        "http://localhost:8080/api?x=1",
        "https://[::1]:443/",
        "ftp://files.test/a",
    ],
)
def test_url_accepts_absolute_urls_with_a_host(value: str) -> None:
    assert value_of("url", value) == value


@pytest.mark.parametrize(
    "value",
    [
        "shop.test",
        "/relative",
        "https://",
        "http://exa mple.test",
        " https://a.test",
        "https://a.test:99999",
        5,
    ],
)
def test_url_rejects_anything_without_scheme_and_host(value: Any) -> None:
    assert rejects("url", value) == "url"


def test_url_with_schemes_accepts_only_those() -> None:
    assert value_of("url:https", "https://a.test") == "https://a.test"
    assert rejects("url:https", "http://a.test") == "url"


@pytest.mark.parametrize(
    "value", ["ops@example.com", "first.last+tag@sub.example.co.uk", "root@localhost"]
)
def test_email_accepts_valid_addresses(value: str) -> None:
    assert value_of("email", value) == value


@pytest.mark.parametrize(
    "value", ["ops", "ops@", "@example.com", "a b@example.com", "a@-example.com", "a@ex_ample.com"]
)
def test_email_rejects_invalid_addresses(value: str) -> None:
    assert rejects("email", value) == "email"


def test_uuid_accepts_any_version_and_checks_a_given_one() -> None:
    v4 = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
    assert value_of("uuid", v4) == v4
    assert value_of("uuid:4", v4) == v4
    assert rejects("uuid:7", v4) == "uuid"
    assert rejects("uuid", "3f2504e0-4f89-41d3-9a0c") == "uuid"


def test_regex_uses_pcre_delimiters_and_modifiers_and_searches() -> None:
    assert value_of("regex:/^[a-z]+$/i", "ABC") == "ABC"
    assert value_of(["required", "regex:#^(eu|us)-\\d+$#"], "eu-1") == "eu-1"
    assert value_of("regex:/\\d/", 42) == 42
    assert rejects("regex:/^[a-z]+$/", "ABC") == "regex"
    assert rejects("not_regex:/admin/i", "Administrator") == "not_regex"


@pytest.mark.parametrize(
    ("rules", "ok", "bad"),
    [
        ("starts_with:http,ftp", "ftp://x", "sftp://x"),
        ("ends_with:.csv", "feed.csv", "feed.xml"),
        ("alpha", "Ärger", "a1"),
        ("alpha_num", "abc123", "abc-123"),
        ("alpha_dash", "abc-1_2", "abc 1"),
    ],
)
def test_string_shape_rules(rules: str, ok: str, bad: str) -> None:
    assert value_of(rules, ok) == ok
    assert rejects(rules, bad) == rules.split(":")[0]


# -- in, not_in, sizes ---------------------------------------------------------------------


def test_in_compares_string_forms_like_php_and_checks_every_array_element() -> None:
    assert value_of("integer|in:1,2", "2") == 2
    assert value_of('in:"a,b",c', "a,b") == "a,b"
    assert value_of("array|in:x,y", ["x", "y"]) == ["x", "y"]
    assert rejects("array|in:x,y", ["x", "z"]) == "in"
    assert rejects("in:a,b", None) == "in"


def test_not_in_rejects_the_listed_values() -> None:
    assert value_of("not_in:admin,root", "ops") == "ops"
    assert rejects("not_in:admin,root", "root") == "not_in"


@pytest.mark.parametrize(
    ("rules", "ok", "bad"),
    [
        ("integer|min:10", 10, 9),
        ("numeric|max:1.5", 1.5, 1.6),
        ("integer|between:1,3", 3, 4),
        ("integer|size:7", 7, 8),
        ("string|min:3", "abc", "ab"),
        ("string|max:3", "abc", "abcd"),
        ("string|between:2,3", "ab", "a"),
        ("string|size:2", "ab", "abc"),
        ("array|min:2", [1, 2], [1]),
        ("array|max:1", {"a": 1}, {"a": 1, "b": 2}),
        ("array|size:1", [1], []),
        ("min:3", "123", 12),  # no numeric rule: the length of the string form, as in Laravel
    ],
)
def test_size_rules_measure_numbers_strings_and_arrays_like_laravel(
    rules: str, ok: Any, bad: Any
) -> None:
    assert value_of(rules, ok) == ok
    assert rejects(rules, bad) == rules.split("|")[-1].split(":")[0]


def test_size_messages_say_what_was_measured() -> None:
    with pytest.raises(ConfigValidationError) as caught:
        validate_configuration(
            {"n": "integer|min:2", "s": "string|min:2", "a": "array|min:2"},
            {"n": 1, "s": "x", "a": [1]},
        )
    messages = {p.path: p.message for p in caught.value.problems}
    assert messages == {
        "n": "must be at least 2",
        "s": "must be at least 2 characters",
        "a": "must have at least 2 items",
    }


# -- nesting -------------------------------------------------------------------------------

NESTED = {
    "credentials": "required|array",
    "credentials.user": "required|string",
    "credentials.password": "required|string|min:8",
    "retry.attempts": "integer|min:0",
}


def test_dotted_keys_become_nested_models() -> None:
    config: Any = validate_configuration(
        NESTED, {"credentials": {"user": "svc", "password": SECRET}, "retry": {"attempts": "3"}}
    )
    assert config.credentials.password.get_secret_value() == SECRET
    assert config.retry.attempts == 3


def test_nested_problems_carry_dotted_paths() -> None:
    assert problems_of(
        NESTED, {"credentials": {"user": 5, "extra": 1}, "retry": {"attempts": -1}}
    ) == {
        ("credentials.user", "string"),
        ("credentials.password", "required"),
        ("credentials.extra", "unknown"),
        ("retry.attempts", "min"),
    }


def test_a_missing_parent_reports_its_required_children() -> None:
    assert problems_of({"auth.user": "required|string"}, {}) == {("auth.user", "required")}
    assert problems_of(NESTED, {"credentials": "svc:pw"}) == {("credentials", "array")}


def test_optional_parent_without_required_children_may_be_absent() -> None:
    config: Any = validate_configuration({"retry.attempts": "integer"}, {})
    assert config.retry is None


# -- schema translation errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "needle"),
    [
        ({"f": "required|frobnicate"}, "'frobnicate'"),
        ({"f": "min"}, "'min' takes"),
        ({"f": "min:abc"}, "numeric"),
        ({"f": "between:5,1"}, "min <= max"),
        ({"f": "string:5"}, "'string' takes no parameters"),
        ({"f": "regex:abc"}, "delimited"),
        ({"f": "regex:[a-z]+"}, "modifier"),
        ({"f": "regex:/(/"}, "invalid pattern"),
        ({"f": "regex:/a/q"}, "modifier"),
        ({"f": "email:dns"}, "email"),
        ({"f.*.name": "string"}, "wildcard"),
        ({"f": "string", "f.x": "integer"}, "conflicts"),
        ({"f": 5}, "rules must be"),
    ],
)
def test_unsupported_schemas_fail_at_translation_naming_field_and_rule(
    schema: Any, needle: str
) -> None:
    with pytest.raises(RuleSchemaError) as caught:
        configuration_model(schema)
    assert needle in str(caught.value)
    assert "'f" in str(caught.value)
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, ConfigurationError)


def test_a_schema_of_the_wrong_kind_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        configuration_model(42)  # type: ignore[arg-type]


def test_rules_may_be_given_as_lists_and_are_case_and_space_tolerant() -> None:
    assert value_of(["Required", " integer "], "5") == 5
    assert value_of("required | integer", "5") == 5


def test_translated_models_are_cached() -> None:
    assert configuration_model(dict(SEED_SCHEMA)) is configuration_model(dict(SEED_SCHEMA))


def test_keys_that_are_not_identifiers_are_kept_as_aliases() -> None:
    config = validate_configuration(
        {"base-url": "required|url", "model_id": "string"}, {"base-url": "https://a.test"}
    )
    assert config.model_dump() == {"base-url": "https://a.test", "model_id": None}


# -- JSON Schema ---------------------------------------------------------------------------


def test_json_schema_describes_types_formats_bounds_enums_and_secrets() -> None:
    schema = configuration_json_schema({**SEED_SCHEMA, "tags": "array|max:3", "contact": "email"})
    props = schema["properties"]
    assert schema["required"] == ["base_url", "api_key"]
    assert schema["additionalProperties"] is False
    assert props["base_url"] | {"title": ""} == {"type": "string", "format": "uri", "title": ""}
    assert props["api_key"]["writeOnly"] is True
    assert props["batch"]["type"] == ["integer", "null"]
    assert (props["batch"]["minimum"], props["batch"]["maximum"]) == (1, 500)
    assert props["mode"]["enum"] == ["a", "b"]
    assert props["tags"]["maxItems"] == 3
    assert props["contact"]["format"] == "email"


def test_json_schema_of_a_pydantic_model_is_its_own() -> None:
    assert configuration_json_schema(ShopConfig) == ShopConfig.model_json_schema()


# -- secrets -------------------------------------------------------------------------------


def test_fields_with_secret_names_become_secret_strings() -> None:
    schema = {
        "password": "string",
        "client_secret": "string",
        "access_token": "string",
        "api_key": "string",
        "apikey": "string",
        "signing_key": "string",
        "private_pem": "string",
        "credentials.user": "string",
        "username": "string",
    }
    assert secret_fields(schema) == frozenset(schema) - {"username"} | {"credentials"}
    config: Any = validate_configuration(
        schema, dict.fromkeys(("password", "api_key", "username"), "v4lue-x")
    )
    assert isinstance(config.password, SecretStr)
    assert config.username == "v4lue-x"


def test_secret_values_lists_secrets_longest_first() -> None:
    config = validate_configuration(
        NESTED | {"api_key": "string", "name": "string"},
        {
            "credentials": {"user": "svc", "password": SECRET},
            "api_key": "short-key",
            "name": "public",
        },
    )
    assert secret_values(config) == [SECRET, "short-key", "svc"]


@pytest.mark.parametrize(
    "schema",
    [
        {"api_key": "required|string|min:64"},
        {"api_key": "required|url"},
        {"api_key": "required|integer"},
        {"api_key": "required|in:a,b"},
        {"api_key": "required|regex:/^x$/"},
        {"token": "required|email"},
        {"credentials.password": "required|string|size:3"},
    ],
)
def test_rejected_secrets_never_appear_in_the_error(schema: dict[str, str]) -> None:
    key = next(iter(schema))
    data: dict[str, Any] = {key: SECRET}
    if "." in key:
        parent, child = key.split(".")
        data = {parent: {child: SECRET}}
    with pytest.raises(ConfigValidationError) as caught:
        validate_configuration(schema, data)
    error = caught.value
    texts = [
        str(error),
        repr(error),
        *map(str, error.problems),
        *map(repr, error.problems),
        str(error.args),
    ]
    assert all(SECRET not in text for text in texts)
    assert error.problems[0].path == key
    assert pickle.loads(pickle.dumps(error.problems)) == error.problems


# -- pydantic-model schemas ----------------------------------------------------------------


class Credentials(BaseModel):
    user: str
    password: SecretStr


class ShopConfig(BaseModel):
    base_url: str = Field(pattern=r"^https://")
    api_key: SecretStr = Field(min_length=8)
    credentials: Credentials | None = None
    batch: int = 100

    @field_validator("batch")
    @classmethod
    def _batch_in_range(cls, value: int) -> int:
        if not 1 <= value <= 500:
            raise ValueError(f"batch {value} is out of range 1..500")
        return value


def test_pydantic_model_schema_is_used_as_it_is() -> None:
    assert configuration_model(ShopConfig) is ShopConfig
    config = validate_configuration(ShopConfig, {"base_url": "https://a.test", "api_key": SECRET})
    assert isinstance(config, ShopConfig)


def test_pydantic_model_problems_name_field_and_error_type() -> None:
    assert problems_of(ShopConfig, {"base_url": "http://a.test", "batch": "x"}) == {
        ("base_url", "string_pattern_mismatch"),
        ("api_key", "required"),
        ("batch", "int_parsing"),
    }


def test_pydantic_model_messages_have_the_input_redacted() -> None:
    with pytest.raises(ConfigValidationError) as caught:
        validate_configuration(
            ShopConfig, {"base_url": "https://a.test", "api_key": SECRET, "batch": 123456}
        )
    (problem,) = caught.value.problems
    assert (problem.path, problem.rule) == ("batch", "value_error")
    assert "123456" not in problem.message
    assert "out of range" in problem.message


def test_pydantic_model_secrets_are_its_secret_fields_and_never_echoed() -> None:
    # `credentials` is a secret name, so everything below it is secret, as in rule schemas.
    assert secret_fields(ShopConfig) == {
        "api_key",
        "credentials",
        "credentials.user",
        "credentials.password",
    }
    config = validate_configuration(
        ShopConfig,
        {
            "base_url": "https://a.test",
            "api_key": SECRET,
            "credentials": {"user": "u", "password": "pw-123"},
        },
    )
    assert secret_values(config) == [SECRET, "pw-123", "u"]
    with pytest.raises(ConfigValidationError) as caught:
        validate_configuration(ShopConfig, {"base_url": "https://a.test", "api_key": "7chars!"})
    assert [(p.path, p.rule) for p in caught.value.problems] == [("api_key", "too_short")]
    assert "7chars!" not in str(caught.value)


def test_a_nullable_parent_may_be_null_but_not_absent_when_children_are_required() -> None:
    schema = {"retry": "nullable|array", "retry.attempts": "required|integer"}
    config: Any = validate_configuration(schema, {"retry": None})
    assert config.retry is None
    assert problems_of(schema, {}) == {("retry.attempts", "required")}
    assert problems_of(schema, {"retry": {"attempts": "x"}}) == {("retry.attempts", "integer")}
