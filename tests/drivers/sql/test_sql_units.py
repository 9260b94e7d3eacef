"""The sql driver's pure parts: configuration, row planning, failure classification."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import exc as sa_exc

from contracts import ConfigValidationError, secret_values, validate_configuration
from contracts.testing import MutationFactory
from drivers.sql import SqlConfig, table_name
from drivers.sql.failures import Failure, classify
from drivers.sql.rows import plan_rows

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_a_password_in_the_url_becomes_a_secret_and_leaves_the_url() -> None:
    config = validate_configuration(SqlConfig, {"url": "postgresql://app:s3cr%40t@db:5432/cat"})
    assert isinstance(config, SqlConfig)
    assert config.url == "postgresql+asyncpg://app@db:5432/cat"
    assert secret_values(config) == ["s3cr@t"]
    assert config.sqlalchemy_url().password == "s3cr@t"
    assert "s3cr" not in config.display_url
    assert "s3cr" not in repr(config)


@pytest.mark.parametrize(
    ("config", "path", "words"),
    [
        ({"url": "postgresql+psycopg2://db/x"}, "url", "postgresql+asyncpg"),
        ({"url": "mysql+aiomysql://db/x"}, "url", "does not support"),
        ({"url": "not a url"}, "url", "not a SQLAlchemy URL"),
        ({"url": "postgresql://u:p@db/x", "password": "q"}, "<root>", "given twice"),
        ({"url": "postgresql://u@db/x?password=p@db"}, "url", "the `password` field"),
        ({"url": "postgresql://u@db/x?PassWord=p@db"}, "url", "the `password` field"),
        ({"table_prefix": "Bad-Prefix"}, "table_prefix", "pattern"),
        ({"delete_mode": "shred"}, "delete_mode", "soft"),
        ({"urls": "sqlite://"}, "urls", "not a known"),
    ],
)
def test_a_bad_configuration_names_the_field_and_the_fix(
    config: dict[str, str], path: str, words: str
) -> None:
    with pytest.raises(ConfigValidationError) as caught:
        validate_configuration(SqlConfig, config)
    (problem,) = caught.value.problems
    assert problem.path == path
    assert words in problem.message
    assert "p@db" not in str(caught.value)


def test_the_default_is_an_embedded_sqlite_file() -> None:
    config = validate_configuration(SqlConfig, {})
    assert isinstance(config, SqlConfig)
    assert (config.backend, config.delete_mode, config.create_tables) == ("sqlite", "soft", True)


def test_table_names_are_safe_identifiers_and_distinct() -> None:
    assert table_name("iec_", "product") == "iec_product"
    odd = {table_name("iec_", t) for t in ("Product-Model", "product_model", "product.model")}
    assert len(odd) == 3
    assert all(name.replace("_", "").isalnum() and len(name) <= 63 for name in odd)
    assert len(table_name("p_", "x" * 300)) <= 63


def test_the_newest_mutation_of_each_entity_is_written_the_rest_superseded() -> None:
    factory = MutationFactory(seed=3)
    a, b = "b-entity", "a-entity"
    batch = [
        factory.mutation("product", "created", entity_uuid=a, version=1),
        factory.mutation("product", "updated", entity_uuid=b, version=5),
        factory.mutation("product", "updated", entity_uuid=a, version=3),
        factory.mutation("product", "updated", entity_uuid=a, version=2),  # stale, later
        factory.mutation("product", "deleted", entity_uuid=b),  # unversioned: later wins
        factory.mutation("product", "updated", entity_uuid="c", version=2**64),
    ]
    plan = plan_rows(batch, range(10, 16), now=NOW, hard_delete=True)

    assert [(r.entity_uuid, r.index, r.hard_delete) for r in plan.rows] == [
        ("a-entity", 14, True),
        ("b-entity", 12, False),
    ]
    assert plan.superseded == {10: 12, 13: 12, 11: 14}
    assert list(plan.rejected) == [15]
    assert plan.rows[1].values["version"] == 3
    assert plan.rows[0].values["deleted_at"] == NOW


class _OrigError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"error {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "failure"),
    [
        ("40001", Failure.TRANSIENT),  # serialization failure
        ("40P01", Failure.TRANSIENT),  # deadlock
        ("08006", Failure.TRANSIENT),  # connection failure
        ("57P01", Failure.TRANSIENT),  # admin shutdown
        ("57014", Failure.TRANSIENT),  # statement timeout
        ("53300", Failure.TRANSIENT),  # too many connections
        ("23505", Failure.RECORD),  # unique violation
        ("23514", Failure.RECORD),  # check violation
        ("22P05", Failure.RECORD),  # untranslatable character
        ("28P01", Failure.FATAL),  # bad password
        ("3D000", Failure.FATAL),  # no such database
        ("42501", Failure.FATAL),  # insufficient privilege
    ],
)
def test_postgresql_errors_are_classified_by_sqlstate(sqlstate: str, failure: Failure) -> None:
    error = sa_exc.DBAPIError("INSERT ...", None, _OrigError(sqlstate))
    assert classify(error) is failure


def test_errors_without_a_sqlstate_are_classified_by_kind() -> None:
    assert classify(sa_exc.IntegrityError("x", None, Exception("UNIQUE"))) is Failure.RECORD
    busy = sa_exc.OperationalError("x", None, Exception("database is locked"))
    assert classify(busy) is Failure.TRANSIENT
    assert classify(ConnectionRefusedError(111, "refused")) is Failure.TRANSIENT
    assert classify(sa_exc.TimeoutError("pool")) is Failure.TRANSIENT
