"""`--config` of `mappings` and `dead-letters`: refusals that need no cluster (all exit 2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

Invoke = Callable[..., Result]
WriteConfig = Callable[[str], Path]

COMMANDS = [
    ("mappings", "count"),
    ("mappings", "get", "product", "p-1"),
    ("mappings", "export"),
    ("dead-letters", "list"),
    ("dead-letters", "show", "0"),
    ("dead-letters", "replay"),
]
UUID_A = "3f2b8c1e-5d4a-4e2f-9b7c-1a2b3c4d5e6f"
UUID_B = "8a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
# Nothing listens on port 1: a command that got past the checks would fail differently.
UNREACHABLE = "127.0.0.1:1"


@pytest.fixture
def two_shops(write_config: WriteConfig) -> Path:
    """Two integrations named "shop" and one named "erp"."""
    return write_config(
        f"""
        kafka: {{bootstrap_servers: "{UNREACHABLE}"}}
        integrations:
          - {{uuid: {UUID_A}, name: shop, driver: magento2}}
          - {{uuid: {UUID_B}, name: shop, driver: magento2}}
          - {{uuid: 1a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d, name: erp, driver: sap}}
        """
    )


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_bad_config_exits_2_with_one_line_per_problem_and_no_secret(
    invoke: Invoke, write_config: WriteConfig, command: tuple[str, ...]
) -> None:
    path = write_config(
        f"""
        kafka:
          bootstrap_servers: {UNREACHABLE}
          security_protocol: SASL_SSL
          sasl_mechanism: PLAIN
          sasl_password: s3cret-Pa55word-4711
        topics:
          mapping_prefix: "bad prefix"
        integrations:
          - {{uuid: not-a-uuid, name: shop, driver: magento2}}
        """
    )

    result = invoke(*command, "--config", path, "--integration", "shop")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "kafka.sasl_username: required with sasl_mechanism PLAIN (rule: required_with)",
        "topics.mapping_prefix: may contain only letters, digits, '.', '_' and '-' "
        "(rule: value_error)",
        "integrations[0].uuid: must be a UUID such as 3f2b8c1e-5d4a-4e2f-9b7c-1a2b3c4d5e6f "
        "(rule: uuid)",
    ]
    assert "s3cret-Pa55word-4711" not in result.output


@pytest.mark.parametrize("command", [COMMANDS[0], COMMANDS[3]], ids=" ".join)
def test_the_config_may_come_from_iec_config(
    invoke: Invoke, tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = invoke(*command, "-i", "shop", env={"IEC_CONFIG": str(tmp_path / "absent.yaml")})

    assert result.exit_code == 2
    assert result.stderr.startswith("absent.yaml: configuration file not found")


@pytest.mark.parametrize("command", [COMMANDS[0], COMMANDS[3]], ids=" ".join)
def test_an_integration_missing_from_the_config_is_named_with_the_known_ones(
    invoke: Invoke, two_shops: Path, command: tuple[str, ...]
) -> None:
    result = invoke(*command, "--config", two_shops, "--integration", "magento")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "--integration: no integration with uuid or name 'magento' in "
        f"{two_shops.name} (known: shop ({UUID_A}), shop ({UUID_B}), "
        "erp (1a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d)) (rule: unknown)"
    ]


def test_a_name_two_integrations_share_asks_for_the_uuid(invoke: Invoke, two_shops: Path) -> None:
    result = invoke("dead-letters", "list", "--config", two_shops, "--integration", "shop")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"--integration: 2 integrations are named 'shop' in {two_shops.name}; give the uuid "
        f"({UUID_A}, {UUID_B}) (rule: ambiguous)"
    ]


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (COMMANDS[0], ["--bootstrap-servers", "kafka:9092"]),
        (COMMANDS[0], ["--topic-prefix", "other.mappings"]),
        (COMMANDS[5], ["--retry-prefix", "other.retry", "--group-prefix", "other"]),
    ],
    ids=["bootstrap", "mapping prefix", "retry and group prefixes"],
)
def test_options_the_config_replaces_are_refused_with_it(
    invoke: Invoke, two_shops: Path, command: tuple[str, ...], options: list[str]
) -> None:
    result = invoke(*command, "--config", two_shops, "-i", "erp", *options)

    assert result.exit_code == 2
    named = " ".join(result.stderr.split())  # rich wraps the message in a box
    assert all(flag in named for flag in options if flag.startswith("--"))
    assert "leave these out or drop --config" in named


def test_an_illegal_prefix_option_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("dead-letters", "list", "-i", UUID_A, "--retry-prefix", "a b")

    assert result.exit_code == 2
    assert "--retry-prefix" in result.stderr
    assert "may contain only letters" in " ".join(result.stderr.split())


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_without_a_config_the_integration_must_be_a_uuid(
    invoke: Invoke, command: tuple[str, ...]
) -> None:
    result = invoke(*command, "-i", "shop-eu")

    assert result.exit_code == 2
    assert "not a uuid" in result.output
