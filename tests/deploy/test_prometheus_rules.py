"""The alert rules against the real `promtool`: they load, and their unit tests
(deploy/prometheus/tests/) make every alert fire when it should and stay quiet when not."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from prometheus_server import tool

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
RULE_TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.test.yml"))


def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *(str(arg) for arg in args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _alerts() -> set[str]:
    names = set()
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule["alert"] for rule in group["rules"] if "alert" in rule}
    return names


def _cases() -> list[dict[str, Any]]:
    cases = []
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            cases += test.get("alert_rule_test", [])
    return cases


def test_promtool_accepts_the_rule_files() -> None:
    result = _promtool("check", "rules", *RULES)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = _promtool("test", "rules", *RULE_TESTS)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_stays_quiet() -> None:
    cases = _cases()
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}

    assert _alerts(), "no alert rules found"
    assert firing == _alerts()
    assert quiet == _alerts()


def test_a_broken_expectation_fails_the_unit_tests(tmp_path: Path) -> None:
    """The unit tests can fail: the same file with one firing alert expected quiet does."""
    broken = yaml.safe_load(RULE_TESTS[0].read_text())
    case = next(c for t in broken["tests"] for c in t["alert_rule_test"] if c.get("exp_alerts"))
    case["exp_alerts"] = []
    broken["rule_files"] = [str((RULE_TESTS[0].parent / f).resolve()) for f in broken["rule_files"]]
    path = tmp_path / "broken.test.yml"
    path.write_text(yaml.safe_dump(broken))

    result = _promtool("test", "rules", path)

    assert result.returncode != 0
    assert case["alertname"] in result.stdout + result.stderr


def test_the_rule_files_name_only_test_modules_that_exist() -> None:
    # Their comments tell a reader which suite test runs them: the name must be a real file.
    named = set()
    for path in [*RULES, *RULE_TESTS]:
        named |= set(re.findall(r"\btests/[\w/]+\.py\b", path.read_text()))

    assert named, "the rule tests say which suite test runs them"
    assert sorted(name for name in named if not (ROOT / name).is_file()) == []
