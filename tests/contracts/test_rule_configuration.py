"""Every key a rule schema declares is reachable under its own name on `self.config`."""

from __future__ import annotations

import warnings

import pytest
from pydantic import SecretStr

from contracts import RuleConfiguration, configuration_json_schema, validate_configuration

SHADOWING = ["schema", "copy", "json", "dict", "validate", "construct", "fields", "model_name"]


def test_keys_named_like_pydantic_members_are_attributes_with_their_values() -> None:
    schema = dict.fromkeys(SHADOWING, "required|string")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # translating such a schema is silent
        config = validate_configuration(schema, {key: f"v-{key}" for key in SHADOWING})
    assert isinstance(config, RuleConfiguration)
    for key in SHADOWING:
        assert getattr(config, key) == f"v-{key}"
        assert config[key] == f"v-{key}"
    assert config.model_dump() == {key: f"v-{key}" for key in SHADOWING}
    assert config.model_copy() == config  # pydantic's own machinery still works


def test_keys_that_cannot_be_attributes_are_items() -> None:
    schema = {
        "api-key": "required|string",
        "class": "required|string",
        "model_dump": "required|string",
        "_internal": "required|string",
        "field_0": "required|string",  # the name a non-identifier key used to be renamed to
        "2fa": "required|boolean",
    }
    data = {
        "api-key": "k-123456",
        "class": "gold",
        "model_dump": "md",
        "_internal": "p",
        "field_0": "f0",
        "2fa": True,
    }
    config = validate_configuration(schema, data)
    assert isinstance(config, RuleConfiguration)
    assert config["api-key"] == SecretStr("k-123456")
    assert config["class"] == "gold"
    assert config["model_dump"] == "md"
    assert config["_internal"] == "p"
    assert config["field_0"] == "f0"
    assert config.field_0 == "f0"  # the declared key keeps its own name
    assert config["2fa"] is True
    assert callable(config.model_dump)
    assert config.model_dump()["api-key"] == SecretStr("k-123456")
    assert "api-key" in config
    assert "api_key" not in config
    with pytest.raises(KeyError):
        config["api_key"]
    assert set(configuration_json_schema(schema)["properties"]) == set(schema)
    shown = repr(config)  # the keys as written, never the generated field names
    assert "api-key=SecretStr('**********')" in shown
    assert "class='gold'" in shown
    assert "field_1" not in shown
    assert "k-123456" not in shown


def test_nested_keys_by_item_and_dotted_path() -> None:
    schema = {"account.user-name": "required|string", "account.password": "required"}
    config = validate_configuration(
        schema, {"account": {"user-name": "u", "password": "pw-123456"}}
    )
    assert isinstance(config, RuleConfiguration)
    assert config["account"]["user-name"] == "u"
    assert config["account.user-name"] == "u"
    assert config.account.password == SecretStr("pw-123456")
    with pytest.raises(KeyError):
        config["account.missing"]
