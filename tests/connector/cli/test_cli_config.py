"""`iec-connector config validate`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

Invoke = Callable[..., Result]
WriteConfig = Callable[[str], Path]

UUID_A = "3f2b8c1e-5d4a-4e2f-9b7c-1a2b3c4d5e6f"
UUID_B = "8a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def test_valid_file_prints_a_summary_and_exits_0(
    invoke: Invoke, write_config: WriteConfig, driver_type: str
) -> None:
    path = write_config(
        f"""
        integrations:
          - uuid: {UUID_A}
            name: Shop
            driver: {driver_type}
            config: {{base_url: "https://shop.example", api_key: "${{CLI_TEST_KEY}}"}}
          - uuid: {UUID_B}
            name: Later
            driver: not-installed
            enabled: false
        """
    )

    result = invoke("config", "validate", path, env={"CLI_TEST_KEY": "k" * 20})

    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout
    assert "integrations: 2 (1 enabled)" in result.stdout
    assert f"drivers: {driver_type}" in result.stdout
    assert "topics: 2 mutations, 1 mappings, 1 dead-letters, 1 retry" in result.stdout
    assert result.stderr == ""


def test_each_problem_is_one_line_on_stderr_and_exit_is_2(
    invoke: Invoke, write_config: WriteConfig, driver_type: str
) -> None:
    path = write_config(
        f"""
        kafka:
          bootstrap_server: x:9092
        integrations:
          - uuid: {UUID_A}
            name: Shop
            driver: {driver_type}
            config: {{base_url: "not a url", api_key: "short-secret"}}
            batch: {{max_records: 0}}
        """
    )
    fixed = write_config(
        f"""
        integrations:
          - uuid: {UUID_A}
            name: Shop
            driver: {driver_type}
            config: {{base_url: "not a url", api_key: "short-secret"}}
            entity_types: [product, family]
          - uuid: {UUID_B}
            name: Other
            driver: magento
        """
    )

    first = invoke("config", "validate", path)
    second = invoke("config", "validate", fixed)

    assert first.exit_code == 2
    assert first.stdout == ""
    assert first.stderr.splitlines() == [
        "kafka.bootstrap_server: is not a known configuration key; "
        "did you mean 'bootstrap_servers'? (rule: unknown)",
        "integrations[0].batch.max_records: Input should be greater than or equal to 1 "
        "(rule: greater_than_equal)",
    ]
    assert second.exit_code == 2
    lines = second.stderr.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == [
        "integrations[0].config.base_url",
        "integrations[0].config.api_key",
        "integrations[0].entity_types[1]",
        "integrations[1].driver",
    ]
    assert lines[0].endswith("(rule: url_parsing)")
    assert "known types: " in lines[3]
    assert driver_type in lines[3]
    assert "short-secret" not in second.output


def test_file_can_come_from_iec_config(
    invoke: Invoke, write_config: WriteConfig, tmp_path: Path
) -> None:
    good = invoke("config", "validate", env={"IEC_CONFIG": str(write_config(""))})
    missing = invoke("config", "validate", env={"IEC_CONFIG": str(tmp_path / "absent.yaml")})

    assert good.exit_code == 0, good.output
    assert missing.exit_code == 2
    assert missing.stderr.startswith("absent.yaml: configuration file not found")


def test_no_file_at_all_is_a_problem(invoke: Invoke) -> None:
    result = invoke("config", "validate")

    assert result.exit_code == 2
    assert "no configuration file given" in result.stderr


def test_shipped_example_configuration_is_valid_with_its_secret_set(invoke: Invoke) -> None:
    example = Path(__file__).resolve().parents[3] / "deploy" / "config" / "example.yaml"

    without_key = invoke("config", "validate", example)
    with_key = invoke("config", "validate", example, env={"EXAMPLE_API_KEY": "example-key"})

    assert without_key.exit_code == 2
    assert without_key.stderr.startswith(
        "integrations[0].config.api_key: environment variable EXAMPLE_API_KEY is not set"
    )
    assert with_key.exit_code == 0, with_key.output
    assert "drivers: example" in with_key.stdout
