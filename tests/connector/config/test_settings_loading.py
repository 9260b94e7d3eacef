"""Loading the configuration: file, environment overrides, references, problems with paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from connector.config import ConnectorSettings, load_settings
from contracts import ConfigValidationError

WriteConfig = Callable[[str], Path]

UUID_A = "3f2b8c1e-5d4a-4e2f-9b7c-1a2b3c4d5e6f"
UUID_B = "8a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def problems_of(path: Path) -> dict[str, tuple[str, str]]:
    """path -> (rule, message) of every problem `load_settings(path)` reports."""
    with pytest.raises(ConfigValidationError) as caught:
        load_settings(path)
    return {p.path: (p.rule, p.message) for p in caught.value.problems}


def test_empty_file_gives_working_defaults(write_config: WriteConfig) -> None:
    settings = load_settings(write_config(""))

    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.kafka.security_protocol == "PLAINTEXT"
    assert settings.topics.mutation_topic("product") == "iec.mutations.product"
    assert settings.schema_registry is None
    assert (settings.metrics.enabled, settings.metrics.host, settings.metrics.port) == (
        True,
        "0.0.0.0",
        9464,
    )
    assert settings.runtime.shutdown_grace_ms == 30_000
    assert settings.runtime.revoke_grace_ms == 20_000
    assert settings.integrations == []


def test_integration_needs_only_uuid_name_and_driver(write_config: WriteConfig) -> None:
    settings = load_settings(
        write_config(
            f"""
            integrations:
              - uuid: {UUID_A.upper()}
                name: Shop
                driver: fake-http
            """
        )
    )

    (integration,) = settings.integrations
    assert integration.uuid == UUID_A  # canonical lowercase form
    assert integration.entity_types is None
    assert integration.batch.max_records == 250
    assert integration.retry.max_attempts == 10
    assert integration.handle_timeout_ms == 60_000
    assert integration.enabled is True
    assert integration.config == {}


def test_environment_overrides_the_file(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(
        """
        kafka:
          bootstrap_servers: from-file:9092
          client_id: from-file
        metrics:
          port: 9000
        """
    )
    monkeypatch.setenv("IEC_KAFKA__BOOTSTRAP_SERVERS", "from-env:9092")
    monkeypatch.setenv("IEC_METRICS__PORT", "9100")

    settings = load_settings(path)

    assert settings.kafka.bootstrap_servers == "from-env:9092"
    assert settings.kafka.client_id == "from-file"  # untouched keys of the section stay
    assert settings.metrics.port == 9100


def test_secret_from_environment_completes_a_sasl_section(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(
        """
        kafka:
          security_protocol: SASL_SSL
          sasl_mechanism: SCRAM-SHA-512
          sasl_username: connector
        """
    )
    monkeypatch.setenv("IEC_KAFKA__SASL_PASSWORD", "pw-from-env")

    settings = load_settings(path)

    assert settings.kafka.client_config()["sasl.password"] == "pw-from-env"
    assert "pw-from-env" not in repr(settings)


def test_config_path_comes_from_iec_config(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IEC_CONFIG", str(write_config("runtime:\n  environment: staging\n")))

    assert load_settings(None).runtime.environment == "staging"


def test_references_are_substituted_from_the_environment(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKERS", "b1:9092,b2:9092")
    monkeypatch.setenv("METRICS_PORT", "9555")
    monkeypatch.setenv("EMPTY", "")
    monkeypatch.delenv("UNSET_FOR_TEST", raising=False)
    path = write_config(
        f"""
        kafka:
          bootstrap_servers: ${{BROKERS}}
          client_id: conn-${{UNSET_FOR_TEST:-default}}-${{EMPTY:-x}}
        metrics:
          port: ${{METRICS_PORT}}
        integrations:
          - uuid: {UUID_A}
            name: literal $${{NOT_A_REF}}
            driver: fake-http
        """
    )

    settings = load_settings(path)

    assert settings.kafka.bootstrap_servers == "b1:9092,b2:9092"
    assert settings.kafka.client_id == "conn-default-x"
    assert settings.metrics.port == 9555
    assert settings.integrations[0].name == "literal ${NOT_A_REF}"


def test_missing_variable_names_path_and_variable(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOP_API_KEY_FOR_TEST", raising=False)
    path = write_config(
        f"""
        integrations:
          - uuid: {UUID_A}
            name: Shop
            driver: fake-http
            config:
              api_key: prefix-${{SHOP_API_KEY_FOR_TEST}}
        """
    )

    problems = problems_of(path)

    rule, message = problems["integrations[0].config.api_key"]
    assert rule == "env_reference"
    assert "SHOP_API_KEY_FOR_TEST" in message
    assert "prefix" not in message


def test_unknown_keys_get_a_did_you_mean_hint(write_config: WriteConfig) -> None:
    path = write_config(
        f"""
        kafka:
          bootstrap_server: broker:9092
        integration: []
        integrations:
          - uuid: {UUID_A}
            name: Shop
            driver: fake-http
            batch:
              max_record: 10
        """
    )

    problems = problems_of(path)

    assert problems["kafka.bootstrap_server"] == (
        "unknown",
        "is not a known configuration key; did you mean 'bootstrap_servers'?",
    )
    assert "did you mean 'integrations'?" in problems["integration"][1]
    assert "did you mean 'max_records'?" in problems["integrations[0].batch.max_record"][1]


def test_yaml_syntax_error_names_the_line(write_config: WriteConfig) -> None:
    path = write_config(
        "kafka:\n  bootstrap_servers: a:9092\n  client_id: [unclosed\nmetrics: {}\n"
    )

    ((where, (rule, message)),) = problems_of(path).items()

    assert rule == "yaml"
    assert where.startswith(f"{path.name}:")
    assert int(where.rsplit(":", 1)[1]) in (3, 4)
    assert "line" in message


def test_duplicate_yaml_key_is_a_problem_not_a_silent_override(write_config: WriteConfig) -> None:
    path = write_config("kafka:\n  client_id: a\nmetrics: {}\nkafka:\n  client_id: b\n")

    ((where, (rule, message)),) = problems_of(path).items()

    assert (where, rule) == (f"{path.name}:4", "yaml")
    assert "duplicate key 'kafka'" in message


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    problems = problems_of(tmp_path / "nope.yaml")

    assert problems["nope.yaml"][0] == "file"


def test_problem_paths_carry_list_indexes(write_config: WriteConfig) -> None:
    path = write_config(
        f"""
        integrations:
          - uuid: {UUID_A}
            name: Good
            driver: fake-http
          - uuid: not-a-uuid
            name: ""
            driver: fake-http
            entity_types: [product, "no spaces"]
            batch: {{max_records: 0}}
            retry: {{initial_backoff_ms: 10, max_backoff_ms: 5}}
            handle_timeout_ms: 0
        """
    )

    problems = problems_of(path)

    assert set(problems) == {
        "integrations[1].uuid",
        "integrations[1].name",
        "integrations[1].entity_types[1]",
        "integrations[1].batch.max_records",
        "integrations[1].retry",
        "integrations[1].handle_timeout_ms",
    }
    assert problems["integrations[1].uuid"][0] == "uuid"
    assert problems["integrations[1].batch.max_records"][0] == "greater_than_equal"
    assert "max_backoff_ms must be >= initial_backoff_ms" in problems["integrations[1].retry"][1]


def test_missing_required_field_is_named(write_config: WriteConfig) -> None:
    path = write_config(f"integrations:\n  - uuid: {UUID_A}\n    name: Shop\n")

    assert problems_of(path)["integrations[0].driver"] == ("required", "is required")


def test_duplicate_uuid_points_at_the_second_integration(write_config: WriteConfig) -> None:
    path = write_config(
        f"""
        integrations:
          - {{uuid: {UUID_A}, name: One, driver: fake-http}}
          - {{uuid: {UUID_B}, name: Two, driver: fake-http}}
          - {{uuid: {UUID_A.upper()}, name: Three, driver: fake-log}}
        """
    )

    problems = problems_of(path)

    assert list(problems) == ["integrations[2].uuid"]
    assert problems["integrations[2].uuid"][0] == "unique"
    assert "integrations[0]" in problems["integrations[2].uuid"][1]


def test_duplicate_entity_type_is_named_by_index(write_config: WriteConfig) -> None:
    path = write_config(
        f"""
        integrations:
          - uuid: {UUID_A}
            name: Shop
            driver: fake-http
            entity_types: [product, category, product]
        """
    )

    assert problems_of(path)["integrations[0].entity_types[2]"][0] == "unique"


def test_empty_entity_types_list_is_refused(write_config: WriteConfig) -> None:
    path = write_config(
        f"integrations:\n  - {{uuid: {UUID_A}, name: S, driver: d, entity_types: []}}\n"
    )

    assert problems_of(path)["integrations[0].entity_types"][0] == "non_empty"


def test_runtime_owned_librdkafka_properties_are_refused_with_the_reason(
    write_config: WriteConfig,
) -> None:
    path = write_config(
        """
        kafka:
          extra:
            enable.auto.commit: true
            group.id: mine
            sasl.password: x
            linger.ms: 5
        """
    )

    problems = problems_of(path)

    assert set(problems) == {
        'kafka.extra["enable.auto.commit"]',
        'kafka.extra["group.id"]',
        'kafka.extra["sasl.password"]',
    }
    rule, message = problems['kafka.extra["enable.auto.commit"]']
    assert rule == "reserved_property"
    assert "commits offsets itself" in message
    assert problems['kafka.extra["sasl.password"]'] == (
        "dedicated_setting",
        "use kafka.sasl_password instead",
    )


def test_pass_through_properties_reach_the_client_config_as_strings(
    write_config: WriteConfig,
) -> None:
    path = write_config(
        """
        kafka:
          bootstrap_servers: "b1:9092, b2:9092"
          extra:
            linger.ms: 5
            socket.keepalive.enable: true
            sasl.oauthbearer.client.secret: oauth-s3cret
        """
    )

    settings = load_settings(path)
    config = settings.kafka.client_config()

    assert config["bootstrap.servers"] == "b1:9092,b2:9092"
    assert config["linger.ms"] == "5"
    assert config["socket.keepalive.enable"] == "true"
    assert "oauth-s3cret" in settings.secret_values()


def test_sasl_protocol_requires_mechanism_and_credentials(write_config: WriteConfig) -> None:
    no_mechanism = write_config("kafka:\n  security_protocol: SASL_SSL\n")
    no_password = write_config(
        "kafka:\n  security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: PLAIN\n  sasl_username: u\n"
    )

    assert problems_of(no_mechanism)["kafka.sasl_mechanism"][0] == "required_with"
    assert problems_of(no_password)["kafka.sasl_password"][0] == "required_with"


def test_topic_prefixes_must_differ(write_config: WriteConfig) -> None:
    path = write_config("topics:\n  mutation_prefix: iec\n  dead_letter_prefix: iec\n")

    assert problems_of(path)["topics.dead_letter_prefix"][0] == "unique"


def test_secrets_never_appear_in_problems(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(
        f"""
        kafka:
          security_protocol: SASL_SSL
          sasl_mechanism: PLAIN
          sasl_username: connector
          sasl_password: [hunter2-file-secret]
        schema_registry:
          url: https://registry.example
          basic_auth_password: 12345678
        integrations:
          - uuid: {UUID_A}
            name: Shop
            driver: fake-http
            config: {{api_key: plain-driver-secret}}
            batch: {{max_records: bad}}
        """
    )
    monkeypatch.setenv("IEC_METRICS__PORT", "env-secret-not-a-port")

    with pytest.raises(ConfigValidationError) as caught:
        load_settings(path)

    text = str(caught.value) + "".join(str(p) for p in caught.value.problems)
    assert {p.path for p in caught.value.problems} >= {
        "kafka.sasl_password",
        "schema_registry.basic_auth_password",
        "integrations[0].batch.max_records",
        "metrics.port",
    }
    for secret in ("hunter2-file-secret", "12345678", "env-secret-not-a-port"):
        assert secret not in text
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_settings_repr_hides_every_secret(write_config: WriteConfig) -> None:
    path = write_config(
        f"""
        kafka:
          security_protocol: SASL_SSL
          sasl_mechanism: PLAIN
          sasl_username: connector
          sasl_password: kafka-pw-123
        integrations:
          - uuid: {UUID_A}
            name: Shop
            driver: fake-http
            config: {{api_key: driver-key-456}}
        """
    )

    settings = load_settings(path)

    assert "kafka-pw-123" not in repr(settings)
    assert "driver-key-456" not in repr(settings)
    assert {"kafka-pw-123", "driver-key-456"} <= set(settings.secret_values())


def test_settings_are_immutable(write_config: WriteConfig) -> None:
    settings = load_settings(write_config(""))

    with pytest.raises(ValueError, match="frozen"):
        settings.kafka.bootstrap_servers = "other:9092"
    assert isinstance(settings, ConnectorSettings)
