"""`${VAR}` references: pure substitution over nested data."""

from __future__ import annotations

from connector.config.interpolation import interpolate, join_path


def test_substitutes_inside_nested_mappings_and_lists_only_in_values() -> None:
    data = {"${KEY}": "a", "list": [{"x": "${A}-${B:-b}"}, 3, None, True]}

    result, problems = interpolate(data, {"A": "1", "KEY": "k"})

    assert problems == []
    assert result == {"${KEY}": "a", "list": [{"x": "1-b"}, 3, None, True]}


def test_default_applies_when_unset_or_empty_but_not_when_set() -> None:
    result, _ = interpolate(["${E:-d}", "${U:-d}", "${S:-d}", "${S:-}"], {"E": "", "S": "s"})

    assert result == ["d", "d", "s", "s"]


def test_escaped_reference_stays_literal() -> None:
    result, problems = interpolate("$${HOME} and $$ and ${X}", {"X": "x", "HOME": "/root"})

    assert problems == []
    assert result == "${HOME} and $$ and x"


def test_every_missing_or_malformed_reference_is_a_problem_with_its_path() -> None:
    data = {"a": [{"b": "${MISSING_ONE}"}], "c": "${unclosed", "d": "${1BAD}"}

    _, problems = interpolate(data, {})

    assert [(p.path, p.rule) for p in problems] == [
        ("a[0].b", "env_reference"),
        ("c", "env_reference"),
        ("d", "env_reference"),
    ]
    assert "MISSING_ONE" in problems[0].message


def test_value_of_a_variable_is_never_in_a_problem() -> None:
    _, problems = interpolate({"k": "${SET} ${UNSET}"}, {"SET": "the-secret"})

    assert len(problems) == 1
    assert "the-secret" not in problems[0].message


def test_paths_quote_keys_that_are_not_plain_names() -> None:
    assert join_path("kafka.extra", "linger.ms") == 'kafka.extra["linger.ms"]'
    assert join_path("integrations", 2) == "integrations[2]"
    assert join_path("", "kafka") == "kafka"
    assert join_path("a", "b_c-d") == "a.b_c-d"
