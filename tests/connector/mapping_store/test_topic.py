"""The mapping topic's policy check and advice (no Kafka)."""

from __future__ import annotations

import pytest

from connector.mapping_store.topic import MAPPING_TOPIC_CONFIG, policy_problem, setting_warnings


def test_compact_is_accepted() -> None:
    assert policy_problem("iec.mappings.u", "compact") is None
    assert policy_problem("iec.mappings.u", MAPPING_TOPIC_CONFIG["cleanup.policy"]) is None


@pytest.mark.parametrize("policy", ["delete", "compact,delete", "delete, compact", "", None])
def test_anything_but_compact_is_refused_with_topic_policy_and_fix(policy: str | None) -> None:
    problem = policy_problem("iec.mappings.u", policy)
    assert problem is not None
    assert "'iec.mappings.u'" in problem
    assert f"cleanup.policy={policy or '(unset)'}" in problem
    assert "--entity-name iec.mappings.u --add-config cleanup.policy=compact" in problem


def test_short_tombstone_retention_and_unclean_election_get_advice() -> None:
    warnings = setting_warnings(
        "t", {"delete.retention.ms": "60000", "unclean.leader.election.enable": "true"}
    )
    assert len(warnings) == 2
    assert "delete.retention.ms" in warnings[0]
    assert setting_warnings("t", MAPPING_TOPIC_CONFIG) == []
