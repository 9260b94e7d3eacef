"""Offline checks of the KEDA ScaledObject: it scales the connector's Deployment on the lag
of every configured integration's consumer group, within the partition count."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from connector.topics import TopicSettings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
SCALED = K8S / "keda-scaledobject.yaml"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        for doc in _documents(path)
        if doc.get("kind") == kind and name in (None, doc["metadata"]["name"])
    ]
    assert len(found) == 1, kind
    return found[0]


def _config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(_one("ConfigMap")["data"]["config.yaml"])
    return config


def test_scaled_object_targets_the_deployment_between_its_replicas_and_the_partitions() -> None:
    scaled = _one("ScaledObject")["spec"]
    deployment = _one("Deployment")
    topics = _config()["topics"]

    assert scaled["scaleTargetRef"]["kind"] == "Deployment"
    assert scaled["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert scaled["minReplicaCount"] == deployment["spec"]["replicas"] >= 2
    assert scaled["maxReplicaCount"] == topics["partitions"]
    behavior = scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300  # no flapping rebalances


def test_static_membership_users_learn_to_retarget_and_scale_down_outlasts_the_session() -> None:
    # deploy/README runs static members as a StatefulSet: the ScaledObject and the README
    # must say to change the target, and a scale-down step must outlast the session timeout
    # they suggest (a removed static member holds its partitions until it runs out).
    readme = (K8S.parent / "README.md").read_text(encoding="utf-8")
    comments = SCALED.read_text(encoding="utf-8")
    suggested_ms = {
        int(ms) for ms in re.findall(r"session\.timeout\.ms`.{0,80}?e\.g\. (\d+)", readme, re.S)
    }
    behavior = _one("ScaledObject")["spec"]["advanced"]["horizontalPodAutoscalerConfig"]

    assert "kind: StatefulSet" in comments
    assert "scaleTargetRef.kind: StatefulSet" in readme
    assert suggested_ms == {60000}
    assert "60 s suggested" in comments
    for policy in behavior["behavior"]["scaleDown"]["policies"]:
        assert policy["periodSeconds"] * 1000 > max(suggested_ms)


def test_one_lag_trigger_per_integration_group_on_the_configured_cluster() -> None:
    triggers = _one("ScaledObject")["spec"]["triggers"]
    config = _config()
    topics = TopicSettings(
        **{k: v for k, v in config["topics"].items() if k != "replication_factor"}
    )
    groups = {topics.group_id(integration["uuid"]) for integration in config["integrations"]}

    assert {t["metadata"]["consumerGroup"] for t in triggers} == groups
    for trigger in triggers:
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["bootstrapServers"] == config["kafka"]["bootstrap_servers"]
        assert int(meta["lagThreshold"]) > 0
        assert meta["offsetResetPolicy"] == "earliest"  # the connector's auto.offset.reset
        assert "topic" not in meta  # every topic of the group: all entity types and retries
        mechanism = {"SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}[
            config["kafka"]["sasl_mechanism"]
        ]
        assert meta["sasl"] == mechanism
        assert meta["tls"] == (
            "enable" if config["kafka"]["security_protocol"].endswith("SSL") else "disable"
        )


def test_trigger_authentication_reads_keys_the_secret_template_has() -> None:
    auth = _one("TriggerAuthentication")
    secret = _one("Secret", "iec-connector")
    references = auth["spec"]["secretTargetRef"]

    assert {ref["parameter"] for ref in references} == {"username", "password"}
    for ref in references:
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]
    assert (
        _one("ScaledObject")["spec"]["triggers"][0]["authenticationRef"]["name"]
        == (auth["metadata"]["name"])
    )


def test_keda_objects_are_not_in_the_kustomization_they_need_the_crds() -> None:
    resources = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]

    assert SCALED.name not in resources
    assert SCALED.name in (K8S / "kustomization.yaml").read_text()  # mentioned, with why
