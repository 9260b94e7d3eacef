"""What the app keeps secret, and the runs it refuses before touching Kafka."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, SecretStr
from typer.testing import CliRunner

from connector.cli import app as cli
from connector.config.loading import settings_from_mapping
from connector.runtime.app import all_secret_values


class SigningConfig(BaseModel):
    base_url: str
    hmac: SecretStr  # secret by type, not by a secret-looking name


def test_secrets_a_driver_schema_declares_are_redacted_as_well() -> None:
    settings = settings_from_mapping({"kafka": {"bootstrap_servers": "127.0.0.1:9092"}})
    config = SigningConfig(base_url="https://shop.test", hmac=SecretStr("s1gn1ng-Secret"))
    assert "s1gn1ng-Secret" in all_secret_values(settings, {"some-uuid": config})


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
