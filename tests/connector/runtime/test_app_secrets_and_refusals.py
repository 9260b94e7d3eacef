"""What the app keeps secret, and the runs it refuses before touching Kafka."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, SecretStr
from typer.testing import CliRunner

from connector.cli import app as cli
from connector.config.loading import settings_from_mapping


class SigningConfig(BaseModel):
    base_url: str
    hmac: SecretStr  # secret by type, not by a secret-looking name


class KeyedConfig(BaseModel):
    base_url: str
    access_key: str  # secret by name only: plain `str`, as a driver author may write it
    signing_key: str
    client_key: str
    webhook_key: str


def test_secrets_a_driver_schema_declares_are_redacted_as_well() -> None:
    settings = settings_from_mapping({"kafka": {"bootstrap_servers": "127.0.0.1:9092"}})
    config = SigningConfig(base_url="https://shop.test", hmac=SecretStr("s1gn1ng-Secret"))
    found = settings.secrets({"some-uuid": config})
    assert "s1gn1ng-Secret" in [s.value for s in found]


def test_secret_named_fields_of_a_pydantic_driver_model_are_secrets_of_the_runtime() -> None:
    settings = settings_from_mapping({"kafka": {"bootstrap_servers": "127.0.0.1:9092"}})
    config = KeyedConfig(
        base_url="https://shop.test",
        access_key="access-Secret-1",
        signing_key="signing-Secret-2",
        client_key="client-Secret-3",
        webhook_key="webhook-Secret-4",
    )
    values = {s.value for s in settings.secrets({"some-uuid": config})}
    assert values == {"access-Secret-1", "signing-Secret-2", "client-Secret-3", "webhook-Secret-4"}


def test_run_without_a_configuration_exits_2() -> None:
    result = CliRunner().invoke(cli, ["run"], env={"IEC_CONFIG": ""})
    assert result.exit_code == 2
    assert "no configuration file given" in result.output


def test_run_with_no_enabled_integration_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "integrations": [
                    {
                        "uuid": "6f1d1c2e-61c4-4b0e-9d55-5a3c2f0e8a10",
                        "name": "off",
                        "driver": "example",
                        "enabled": False,
                        "config": {"base_url": "https://shop.test", "api_key": "k-123456"},
                    }
                ]
            }
        )
    )
    result = CliRunner().invoke(cli, ["run", "--config", str(path)])
    assert result.exit_code == 2
    assert "no enabled integration" in result.output


def test_credentials_in_urls_of_any_field_are_secrets_of_the_configuration() -> None:
    settings = settings_from_mapping(
        {
            "schema_registry": {"url": "https://reg:Reg-s3cret@registry.test"},
            "kafka": {"extra": {"sasl.oauthbearer.config": "scope=x secret=Oauth-s3cret"}},
            "integrations": [
                {
                    "uuid": "6f1d1c2e-61c4-4b0e-9d55-5a3c2f0e8a10",
                    "name": "sql",
                    "driver": "example",
                    "config": {
                        "dsn": "postgresql://shop:Pg-s3cret@db/shop",
                        "url": "https://user:Url-s3cret@host/",
                        "db_pass": "Db-s3cret",
                    },
                }
            ],
        }
    )
    found = {(s.where, s.value) for s in settings.secrets()}
    assert {
        ("schema_registry.url", "Reg-s3cret"),
        ("kafka.extra.sasl.oauthbearer.config", "scope=x secret=Oauth-s3cret"),
        ("integrations[0].config.dsn", "Pg-s3cret"),
        ("integrations[0].config.url", "Url-s3cret"),
        ("integrations[0].config.db_pass", "Db-s3cret"),
    } <= found
