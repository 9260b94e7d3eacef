"""Offline checks of the deployment artifacts: docker-compose, Dockerfile, Kubernetes, monitoring.

No Docker engine or cluster runs here, so these tests check what can be checked without one:
every file parses, the files agree with each other (ports, paths, service names, secrets), the
configurations they ship validate with the connector's own loader, every metric a dashboard
or alert queries exists in `connector/metrics.py`, and the image's health check works against
the connector's real health server.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase
from typer.testing import CliRunner

from connector.cli import app
from connector.health import HealthServer
from connector.metrics import ConnectorMetrics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
EXAMPLE_CONFIG = ROOT / "deploy" / "config" / "example.yaml"
K8S_DIR = ROOT / "deploy" / "kubernetes"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
ALERT_RULES = PROMETHEUS_DIR / "rules" / "iec-connector.yml"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "iec-connector.json"

CONFIG_IN_CONTAINER = "/etc/iec-connector/config.yaml"
RUN_COMMAND = ["iec-connector", "run", "--config", CONFIG_IN_CONTAINER]
TOPICS_COMMAND = ["iec-connector", "topics", "create", "--config", CONFIG_IN_CONTAINER]
METRICS_PORT = 9464
# Labels Prometheus itself adds to every series, and the histogram bucket label.
PROMETHEUS_LABELS = frozenset({"le", "job", "instance"})


# --- reading the artifacts ----------------------------------------------------------------


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


@cache
def _compose() -> dict[str, Any]:
    document = _yaml(COMPOSE_FILE)
    assert isinstance(document, dict)
    return document


def _service(name: str) -> dict[str, Any]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name]


_COMPOSE_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


def _interpolate(value: str) -> str:
    """Compose's `${VAR:-default}` with the defaults (tests must not depend on the host's env)."""
    return _COMPOSE_VARIABLE.sub(lambda match: match.group("default") or "", value)


def _service_env(name: str) -> dict[str, str]:
    environment = _service(name).get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: _interpolate(str(value)) for key, value in environment.items()}


def _is_one_shot(service: Mapping[str, Any]) -> bool:
    return (
        str(service.get("restart", "no")) == "no"
        and "healthcheck" in service
        and bool(service["healthcheck"].get("disable"))
    )


def _volume_mounts(service: Mapping[str, Any]) -> dict[str, Path]:
    """Container path -> repository path of the service's bind mounts from the checkout."""
    mounts: dict[str, Path] = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith("./"):
            mounts[target] = ROOT / source
    return mounts


def _duration_seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value):
        total += float(number) * units[unit]
    assert total > 0, f"cannot read duration {value!r}"
    return total


@cache
def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _instructions(keyword: str) -> list[str]:
    return [rest for name, rest in _dockerfile() if name == keyword]


def _exec_form(arguments: str) -> list[str]:
    parsed = json.loads(arguments)
    assert isinstance(parsed, list), f"not exec (JSON) form: {arguments}"
    return [str(item) for item in parsed]


def _image_entrypoint() -> list[str]:
    (entrypoint,) = _instructions("ENTRYPOINT")
    return _exec_form(entrypoint)


def _image_uid() -> int:
    user = _instructions("USER")[-1]
    uid = user.split(":")[0]
    assert uid.isdigit(), f"USER {user}: use a numeric UID so runAsNonRoot can verify it"
    return int(uid)


@cache
def _k8s() -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> manifest, for every YAML file of deploy/kubernetes except kustomization."""
    manifests: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(K8S_DIR.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in _yaml_documents(path):
            manifests[(document["kind"], document["metadata"]["name"])] = document
    return manifests


def _k8s_one(kind: str) -> dict[str, Any]:
    found = [manifest for (k, _), manifest in _k8s().items() if k == kind]
    assert len(found) == 1, f"expected one {kind} in deploy/kubernetes, found {len(found)}"
    return found[0]


def _connector_container() -> dict[str, Any]:
    containers: list[dict[str, Any]] = _k8s_one("Deployment")["spec"]["template"]["spec"][
        "containers"
    ]
    assert len(containers) == 1
    return containers[0]


def _configmap_config() -> str:
    text = _k8s_one("ConfigMap")["data"]["config.yaml"]
    assert isinstance(text, str)
    return text


def _validate_config(path: Path, env: Mapping[str, str | None]) -> tuple[int, str]:
    """`iec-connector config validate PATH` under `env`: (exit code, output)."""
    result = CliRunner().invoke(app, ["config", "validate", str(path)], env=env)
    return result.exit_code, result.output


# --- metrics: what connector/metrics.py defines -------------------------------------------


@cache
def _metric_families() -> dict[str, tuple[str, frozenset[str]]]:
    """Family name -> (type, label names), read from the ConnectorMetrics definitions."""
    tree = ast.parse((ROOT / "connector" / "metrics.py").read_text(encoding="utf-8"))
    (init,) = [
        node
        for cls in tree.body
        if isinstance(cls, ast.ClassDef) and cls.name == "ConnectorMetrics"
        for node in cls.body
        if isinstance(node, ast.FunctionDef) and node.name == "__init__"
    ]
    constants: dict[str, str] = {}
    families: dict[str, tuple[str, frozenset[str]]] = {}
    for node in ast.walk(init):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    for node in ast.walk(init):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"Counter", "Gauge", "Histogram"}
        ):
            continue
        name = _string_value(node.args[0], constants)
        labels = node.args[2] if len(node.args) > 2 else None
        assert isinstance(labels, ast.List | ast.Tuple), f"{name}: labels not a literal list"
        label_names = frozenset(_string_value(element, constants) for element in labels.elts)
        families[name] = (node.func.id.lower(), label_names)
    return families


def _string_value(node: ast.expr, constants: Mapping[str, str]) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                assert isinstance(value.value, ast.Name), "only {name} placeholders"
                parts.append(constants[value.value.id])
            else:
                parts.append(_string_value(value, constants))
        return "".join(parts)
    raise AssertionError(f"not a string literal: {ast.dump(node)}")


@cache
def _series() -> dict[str, frozenset[str]]:
    """Every series name Prometheus sees -> its labels (counters `_total`, histograms 3)."""
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
    return {
        family + suffix: labels
        for family, (kind, labels) in _metric_families().items()
        for suffix in suffixes[kind]
    }


# --- PromQL: which metrics and labels an expression uses ----------------------------------

_PROMQL_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"and", "or", "unless", "bool", "offset", "inf", "nan"}
)
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_IDENTIFIER = re.compile(r"(?<![\w$.])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w])(\s*\()?")


def _promql_parts(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) used by a PromQL expression (Grafana variables allowed)."""
    labels: set[str] = set()
    for _, names in _GROUPING.findall(expr):
        labels.update(name.strip() for name in names.split(",") if name.strip())
    for matchers in _MATCHERS.findall(expr):
        labels.update(_MATCHER_LABEL.findall(matchers))
    stripped = _GROUPING.sub(" ", expr)
    stripped = _MATCHERS.sub(" ", stripped)
    stripped = re.sub(r"\[[^\]]*\]", " ", stripped)  # ranges: [5m], [$__rate_interval]
    stripped = re.sub(r'"[^"]*"', " ", stripped)  # strings
    metrics = {
        name
        for name, call in _IDENTIFIER.findall(stripped)
        if not call and name.lower() not in _PROMQL_KEYWORDS
    }
    return metrics, labels


def _check_queries(expressions: Mapping[str, str], *, allowed_extra: frozenset[str]) -> None:
    series = _series()
    problems: list[str] = []
    for where, expr in expressions.items():
        metrics, labels = _promql_parts(expr)
        unknown = metrics - series.keys() - allowed_extra
        if unknown:
            problems.append(f"{where}: unknown metric(s) {sorted(unknown)}")
        known_labels = set(PROMETHEUS_LABELS)
        for metric in metrics & series.keys():
            known_labels |= series[metric]
        if labels - known_labels:
            problems.append(f"{where}: unknown label(s) {sorted(labels - known_labels)}")
        if not metrics:
            problems.append(f"{where}: queries no metric")
    assert not problems, "\n".join(problems)


def _dashboard() -> dict[str, Any]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(dashboard, dict)
    return dashboard


def _dashboard_panels() -> Iterator[dict[str, Any]]:
    for panel in _dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _dashboard_queries() -> dict[str, str]:
    return {
        f"panel {panel['title']!r} {target['refId']}": target["expr"]
        for panel in _dashboard_panels()
        for target in panel.get("targets", [])
    }


def _alert_rules() -> list[dict[str, Any]]:
    return [rule for group in _yaml(ALERT_RULES)["groups"] for rule in group["rules"]]


# --- the metric catalogue itself ----------------------------------------------------------


def test_metric_catalogue_matches_the_metrics_the_connector_registers() -> None:
    registered = {
        metric.name: metric.type
        for attribute in vars(ConnectorMetrics(CollectorRegistry())).values()
        if isinstance(attribute, MetricWrapperBase)
        for metric in attribute.describe()
    }
    parsed = {name: kind for name, (kind, _) in _metric_families().items()}
    assert parsed == registered
    assert "iec_connector_handle_duration_seconds_bucket" in _series()
    assert "iec_connector_records_handled_total" in _series()


def test_promql_reader_finds_metrics_and_labels_but_not_functions_or_variables() -> None:
    metrics, labels = _promql_parts(
        "histogram_quantile(0.99, sum by (integration, le) ("
        'rate(iec_connector_x_bucket{integration=~"$integration"}[$__rate_interval])))'
        ' > on (integration) group_left max by (integration) (up{job="a"})'
    )
    assert metrics == {"iec_connector_x_bucket", "up"}
    assert labels == {"integration", "le", "job"}


# --- Grafana ------------------------------------------------------------------------------


def test_dashboard_queries_only_metrics_and_labels_the_connector_exports() -> None:
    queries = _dashboard_queries()
    assert len(queries) >= 15
    _check_queries(queries, allowed_extra=frozenset())


def test_dashboard_charts_every_connector_metric() -> None:
    used: set[str] = set()
    for expr in _dashboard_queries().values():
        used |= _promql_parts(expr)[0]
    uncharted = [
        family
        for family in _metric_families()
        if not any(name == family or name.startswith(family + "_") for name in used)
    ]
    assert not uncharted, f"metrics missing from the dashboard: {uncharted}"


def test_dashboard_has_the_panels_operators_look_for() -> None:
    titles = " | ".join(panel["title"].lower() for panel in _dashboard_panels())
    for wanted in (
        "handled / s by integration and operation",
        "lag per partition",
        "p50 / p95 / p99",
        "batch size",
        "errors / s by class",
        "dead letters",
        "retries",
        "paused",
        "rebalances",
        "mappings",
    ):
        assert wanted in titles, f"no panel titled like {wanted!r}"
    quantiles = next(panel for panel in _dashboard_panels() if "p50 / p95 / p99" in panel["title"])
    exprs = [target["expr"] for target in quantiles["targets"]]
    assert [expr.split("(", 2)[1].split(",")[0] for expr in exprs] == ["0.5", "0.95", "0.99"]


def test_dashboard_queries_follow_the_integration_filter_and_datasource_variable() -> None:
    dashboard = _dashboard()
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert "iec_connector_" in variables["integration"]["definition"]
    for panel in _dashboard_panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert 'integration=~"$integration"' in target["expr"], panel["title"]


def test_dashboard_panels_have_unique_ids_and_do_not_overlap() -> None:
    panels = list(_dashboard_panels())
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_grafana_provisioning_loads_the_mounted_dashboard_from_the_compose_prometheus() -> None:
    grafana = _service("grafana")
    mounts = _volume_mounts(grafana)
    provisioning = mounts["/etc/grafana/provisioning"]
    assert provisioning == GRAFANA_DIR / "provisioning"

    (datasource,) = _yaml(provisioning / "datasources" / "prometheus.yaml")["datasources"]
    assert datasource["type"] == "prometheus"
    host_port = datasource["url"].removeprefix("http://")
    host, port = host_port.split(":")
    assert host in _compose()["services"]
    assert any(str(p).endswith(f":{port}") for p in _service(host)["ports"])

    (provider,) = _yaml(provisioning / "dashboards" / "iec-connector.yaml")["providers"]
    dashboards_dir = mounts[provider["options"]["path"]]
    assert DASHBOARD.parent == dashboards_dir
    home = _service_env("grafana")["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert dashboards_dir / PurePosixPath(home).name == DASHBOARD


# --- Prometheus ---------------------------------------------------------------------------


def test_alert_rules_query_only_metrics_and_labels_the_connector_exports() -> None:
    rules = _alert_rules()
    _check_queries({rule["alert"]: rule["expr"] for rule in rules}, allowed_extra=frozenset({"up"}))


def test_alert_rules_cover_the_failure_modes() -> None:
    by_metric: dict[str, list[str]] = {}
    for rule in _alert_rules():
        for metric in _promql_parts(rule["expr"])[0]:
            by_metric.setdefault(metric, []).append(rule["alert"])
    for metric in (
        "up",  # process down
        "iec_connector_integration_running",  # integration down
        "iec_connector_consumer_lag_records",  # lag growing
        "iec_connector_dead_letters_total",  # dead letters appearing
        "iec_connector_retries_total",  # retries sustained
        "iec_connector_handle_duration_seconds_bucket",  # p99 high
        "iec_connector_assigned_partitions",  # no partitions assigned
        "iec_connector_dead_letter_write_failures_total",  # dead-letter writes failing
    ):
        assert metric in by_metric, f"no alert on {metric}"
    lag = next(rule for rule in _alert_rules() if "consumer_lag" in rule["expr"])
    assert _duration_seconds(lag["for"]) >= 600, "lag must grow for 10 minutes before paging"
    p99 = next(rule for rule in _alert_rules() if "handle_duration" in rule["expr"])
    assert "histogram_quantile(0.99" in p99["expr"]


def test_every_alert_has_a_severity_and_explains_itself() -> None:
    names = [rule["alert"] for rule in _alert_rules()]
    assert len(names) == len(set(names))
    for rule in _alert_rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert len(rule["annotations"]["description"]) > 40, rule["alert"]


def test_prometheus_scrapes_the_connector_and_loads_the_alert_rules() -> None:
    prometheus = _service("prometheus")
    mounts = _volume_mounts(prometheus)
    config = _yaml(mounts["/etc/prometheus/prometheus.yml"])
    assert mounts["/etc/prometheus/prometheus.yml"] == PROMETHEUS_DIR / "prometheus.yml"

    loaded = {
        mounts[str(PurePosixPath(pattern).parent)] / PurePosixPath(pattern).name
        for pattern in config["rule_files"]
    }
    assert any(ALERT_RULES.match(str(pattern)) for pattern in loaded)

    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "iec-connector"]
    (target,) = [t for static in job["static_configs"] for t in static["targets"]]
    host, port = target.split(":")
    assert host == "connector"
    assert host in _compose()["services"]
    assert int(port) == METRICS_PORT == _yaml(EXAMPLE_CONFIG)["metrics"]["port"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    up_alert = next(rule for rule in _alert_rules() if "up{" in rule["expr"])
    assert 'job="iec-connector"' in up_alert["expr"]


# --- docker-compose -----------------------------------------------------------------------


def test_compose_long_running_services_have_healthchecks() -> None:
    services = _compose()["services"]
    assert {"kafka", "schema-registry", "connector", "prometheus", "grafana"} <= services.keys()
    for name, service in services.items():
        if _is_one_shot(service):
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test, f"{name} has no health check"
        assert test[0] in {"CMD", "CMD-SHELL"}, name


def test_compose_dependencies_wait_for_health_or_completion() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: use depends_on with conditions"
        for dependency, rule in depends_on.items():
            target = services[dependency]
            if _is_one_shot(target):
                assert rule["condition"] == "service_completed_successfully", name
            else:
                assert rule["condition"] == "service_healthy", f"{name} -> {dependency}"
                assert "test" in target["healthcheck"], dependency
    assert "kafka" in _service("connector")["depends_on"]
    assert "kafka" in _service("schema-registry")["depends_on"]


def test_compose_kafka_is_a_kraft_node_with_an_internal_and_a_host_listener() -> None:
    env = _service_env("kafka")
    assert "apache/kafka:4." in _interpolate(_service("kafka")["image"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")
    assert node == env["KAFKA_NODE_ID"]
    cluster_id = env["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16

    listeners = dict(item.split("://") for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protocols = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(listeners) == set(protocols)
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert voter.endswith(listeners[controller].lstrip(":"))
    assert controller not in advertised

    internal = _service_env("connector")["IEC_KAFKA__BOOTSTRAP_SERVERS"]
    assert internal in advertised.values(), "containers must reach an advertised listener"
    assert internal.split(":")[0] == "kafka"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    registry_store = _service_env("schema-registry")["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"]
    assert registry_store.split("://")[1] == internal
    assert "localhost:9092" in advertised.values()
    assert any(str(port).endswith("9092:9092") for port in _service("kafka")["ports"])
    assert "kafka-broker-api-versions" in " ".join(_service("kafka")["healthcheck"]["test"])


def test_compose_schema_registry_listens_where_the_connector_looks() -> None:
    env = _service_env("schema-registry")
    assert "cp-schema-registry" in _interpolate(_service("schema-registry")["image"])
    url = _service_env("connector")["IEC_SCHEMA_REGISTRY__URL"]
    assert url == f"http://schema-registry:{env['SCHEMA_REGISTRY_LISTENERS'].rsplit(':', 1)[1]}"
    assert "/subjects" in " ".join(_service("schema-registry")["healthcheck"]["test"])


def test_compose_connector_runs_the_example_config_in_the_project_image() -> None:
    connector = _service("connector")
    assert (ROOT / connector["build"]["context"]).resolve() == ROOT
    assert ROOT / connector["build"]["dockerfile"] == DOCKERFILE
    assert _volume_mounts(connector)[CONFIG_IN_CONTAINER] == EXAMPLE_CONFIG
    env = _service_env("connector")
    assert env["IEC_CONFIG"] == CONFIG_IN_CONTAINER
    assert env["EXAMPLE_API_KEY"]
    assert _image_entrypoint() + connector["command"] == RUN_COMMAND
    assert str(METRICS_PORT) in " ".join(connector["healthcheck"]["test"])
    assert "/healthz" in " ".join(connector["healthcheck"]["test"])


def test_compose_creates_topics_before_the_connector_starts() -> None:
    topics = _service("topics-init")
    assert _is_one_shot(topics)
    assert _image_entrypoint() + topics["command"] == TOPICS_COMMAND
    assert _volume_mounts(topics)[CONFIG_IN_CONTAINER] == EXAMPLE_CONFIG
    assert _service("connector")["depends_on"]["topics-init"]["condition"] == (
        "service_completed_successfully"
    )
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert _service_env("kafka")["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_compose_connector_environment_makes_the_example_config_valid() -> None:
    env: dict[str, str | None] = dict(_service_env("connector"))
    env.pop("IEC_CONFIG")
    code, output = _validate_config(EXAMPLE_CONFIG, env)
    assert code == 0, output


def test_compose_gives_the_connector_longer_to_stop_than_its_shutdown_grace() -> None:
    grace_ms = _yaml(EXAMPLE_CONFIG).get("runtime", {}).get("shutdown_grace_ms", 30_000)
    connector = _service("connector")
    assert connector.get("stop_signal", "SIGTERM") == "SIGTERM"
    assert _duration_seconds(connector["stop_grace_period"]) > grace_ms / 1000


# --- Dockerfile and .dockerignore ---------------------------------------------------------


def test_dockerfile_builds_the_wheel_on_python_311_slim_and_runs_as_non_root() -> None:
    assert all(line.split()[0] == "python:3.11-slim" for line in _instructions("FROM"))
    assert _image_uid() != 0
    assert _instructions("STOPSIGNAL") == ["SIGTERM"]
    assert _image_entrypoint() == ["iec-connector"]
    assert str(METRICS_PORT) in " ".join(_instructions("EXPOSE")).split()
    runs = " ".join(_instructions("RUN"))
    assert "pip wheel" in runs
    assert re.search(r"pip install [^&]*--no-index[^&]*iec-connector", runs)
    (cmd,) = _instructions("CMD")
    assert _image_entrypoint() + _exec_form(cmd) == RUN_COMMAND


def test_dockerfile_healthcheck_probes_healthz_with_python_not_curl() -> None:
    (healthcheck,) = _instructions("HEALTHCHECK")
    command = _healthcheck_command()
    assert command[0] == "python"
    assert "urllib" in command[-1]
    assert "/healthz" in command[-1]
    assert "curl" not in healthcheck


def _healthcheck_command() -> list[str]:
    (healthcheck,) = _instructions("HEALTHCHECK")
    _, _, exec_form = healthcheck.partition(" CMD ")
    return _exec_form(exec_form)


@pytest.mark.parametrize("alive", [True, False])
def test_image_healthcheck_reports_the_connector_liveness(alive: bool) -> None:
    server = HealthServer(
        "127.0.0.1",
        0,
        registry=CollectorRegistry(),
        liveness=lambda: (alive, {}),
        readiness=lambda: (True, {}),
    )
    server.start()
    try:
        command = [sys.executable, *_healthcheck_command()[1:]]
        env = {"IEC_METRICS__PORT": str(server.port), "PATH": ""}
        result = subprocess.run(command, env=env, capture_output=True, timeout=30, check=False)
    finally:
        server.close()
    assert (result.returncode == 0) is alive, result.stderr.decode()


def _dockerignore_excludes(path: str) -> bool:
    """Docker's rules: patterns in order, last match wins, `!` re-includes, parents count."""
    excluded = False
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*", "\0").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]").replace("\0/", "(?:.*/)?").replace("\0", ".*")
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def test_dockerignore_sends_the_build_inputs_and_nothing_local() -> None:
    copied = [
        source
        for arguments in _instructions("COPY")
        if "--from" not in arguments
        for source in arguments.split()[:-1]
    ]
    assert copied, "the Dockerfile copies nothing from the context"
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not _dockerignore_excludes(source), f".dockerignore drops {source}"
    assert not _dockerignore_excludes("connector/health.py")
    assert not _dockerignore_excludes("schemas/mutation_data.avsc")
    for local in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/conftest.py",
        "connector/__pycache__/x.pyc",
    ):
        assert _dockerignore_excludes(local), f".dockerignore keeps {local}"


# --- Kubernetes ---------------------------------------------------------------------------


def test_kubernetes_manifests_parse_and_the_kustomization_lists_existing_files() -> None:
    for (kind, name), manifest in _k8s().items():
        assert manifest["apiVersion"], (kind, name)
        assert kind
        assert name
    kustomization = _yaml(K8S_DIR / "kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (K8S_DIR / resource).is_file(), resource
    listed = {
        document["kind"]
        for resource in kustomization["resources"]
        for document in _yaml_documents(K8S_DIR / resource)
    }
    assert {"Deployment", "ConfigMap", "PodDisruptionBudget", "Service"} <= listed
    assert "Secret" not in listed, "real secrets come from outside the repository"


def test_deployment_probes_health_endpoints_on_the_metrics_port() -> None:
    container = _connector_container()
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}

    def probe_target(probe: str) -> tuple[str, int]:
        get = container[probe]["httpGet"]
        port = get["port"]
        return get["path"], ports[port] if isinstance(port, str) else port

    assert probe_target("livenessProbe") == ("/healthz", METRICS_PORT)
    assert probe_target("readinessProbe") == ("/readyz", METRICS_PORT)
    config = yaml.safe_load(_configmap_config())
    assert config["metrics"]["port"] == METRICS_PORT


def test_deployment_sets_resource_requests_and_limits() -> None:
    for container in _k8s_one("Deployment")["spec"]["template"]["spec"]["containers"]:
        resources = container["resources"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= resources[bound].keys(), f"{container['name']} {bound}"


def _secrets() -> dict[str, dict[str, Any]]:
    return {name: manifest for (kind, name), manifest in _k8s().items() if kind == "Secret"}


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container["env"]}


def test_deployment_takes_secrets_from_a_secret_as_environment_variables() -> None:
    secrets = _secrets()
    env = _env(_connector_container())
    for variable in ("IEC_KAFKA__SASL_PASSWORD", "EXAMPLE_API_KEY"):
        reference = env[variable]["valueFrom"]["secretKeyRef"]
        assert reference["key"] in secrets[reference["name"]]["stringData"]
        assert "value" not in env[variable]


def test_the_topics_job_and_the_runtime_are_separate_principals() -> None:
    """Only the topics Job may create topics: its own SASL user, password Secret and service
    account; it gets no driver secret (see deploy/README.md, "Security")."""
    secrets = _secrets()
    runtime_pod = _k8s_one("Deployment")["spec"]["template"]["spec"]
    job_pod = _k8s_one("Job")["spec"]["template"]["spec"]
    (job,) = job_pod["containers"]
    runtime_env, job_env = _env(_connector_container()), _env(job)
    runtime_user = yaml.safe_load(_configmap_config())["kafka"]["sasl_username"]
    assert "IEC_KAFKA__SASL_USERNAME" not in runtime_env
    assert job_env["IEC_KAFKA__SASL_USERNAME"]["value"] not in ("", runtime_user)
    runtime_secret = runtime_env["IEC_KAFKA__SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
    job_secret = job_env["IEC_KAFKA__SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert job_secret["name"] != runtime_secret["name"]
    assert job_secret["key"] in secrets[job_secret["name"]]["stringData"]
    assert "valueFrom" not in job_env["EXAMPLE_API_KEY"], "the job needs no driver secret"
    assert job_pod["serviceAccountName"] != runtime_pod["serviceAccountName"]
    accounts = {name for (kind, name) in _k8s() if kind == "ServiceAccount"}
    assert {job_pod["serviceAccountName"], runtime_pod["serviceAccountName"]} <= accounts


def test_deployment_runs_the_configmap_config_it_mounts() -> None:
    container = _connector_container()
    assert _image_entrypoint() + container["args"] == RUN_COMMAND
    pod = _k8s_one("Deployment")["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    configmap = _k8s_one("ConfigMap")["metadata"]["name"]
    mounted = [
        mount
        for mount in container["volumeMounts"]
        if volumes[mount["name"]].get("configMap", {}).get("name") == configmap
    ]
    (mount,) = mounted
    items = volumes[mount["name"]]["configMap"].get("items", [{"key": "config.yaml"}])
    paths = {f"{mount['mountPath']}/{item.get('path', item['key'])}" for item in items}
    assert CONFIG_IN_CONTAINER in paths


def test_configmap_config_validates_only_with_the_secret_from_the_environment(
    tmp_path: Path,
) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(_configmap_config(), encoding="utf-8")
    assert "sasl_password" not in yaml.safe_load(_configmap_config())["kafka"]
    secrets = {"IEC_KAFKA__SASL_PASSWORD": "s3cret-from-secret", "EXAMPLE_API_KEY": "key-123"}

    code, output = _validate_config(config_file, secrets)
    assert code == 0, output

    code, output = _validate_config(config_file, {**secrets, "IEC_KAFKA__SASL_PASSWORD": None})
    assert code == 2
    assert "kafka.sasl_password" in output


def test_pods_get_longer_to_terminate_than_the_runtime_shutdown_grace() -> None:
    runtime = yaml.safe_load(_configmap_config()).get("runtime", {})
    grace_s = runtime.get("shutdown_grace_ms", 30_000) / 1000
    pod = _k8s_one("Deployment")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > max(grace_s, 30)


def test_disruption_budget_service_and_monitor_select_the_connector_pods() -> None:
    deployment = _k8s_one("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] >= 2
    pdb = _k8s_one("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert "maxUnavailable" in pdb["spec"] or "minAvailable" in pdb["spec"]
    service = _k8s_one("Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (service_port,) = service["spec"]["ports"]
    monitor = _k8s_one("ServiceMonitor")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] == service_port["name"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(METRICS_PORT)


def test_pods_run_as_the_image_user_without_privileges() -> None:
    for kind in ("Deployment", "Job"):
        pod = _k8s_one(kind)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == _image_uid()
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
