"""The drivers' view of an integration's retry settings (`IntegrationContext.retry`)."""

from connector.config.policies import RetrySettings
from contracts import RetryPolicy


def test_retry_settings_become_the_contracts_policy_in_seconds() -> None:
    settings = RetrySettings(
        max_attempts=4,
        initial_backoff_ms=250,
        max_backoff_ms=2_000,
        multiplier=3.0,
        jitter=0.1,
        max_elapsed_ms=30_000,
        unknown_errors="permanent",
    )
    assert settings.policy() == RetryPolicy(
        max_attempts=4,
        initial_backoff_s=0.25,
        max_backoff_s=2.0,
        multiplier=3.0,
        jitter=0.1,
        max_elapsed_s=30.0,
        unknown_errors="permanent",
    )


def test_the_defaults_agree() -> None:
    assert RetrySettings().policy() == RetryPolicy()
