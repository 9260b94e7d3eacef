"""`SqlConfig`: the `sql` driver's configuration (an integration's ``config:``).

The database is a SQLAlchemy URL with an asyncio driver: ``postgresql+asyncpg://`` (the real
target) or ``sqlite+aiosqlite:///file`` (embedded, the default). ``postgresql://`` and
``sqlite://`` get those drivers. A password written into the URL is moved into `password`, a
secret, so it is redacted wherever it would appear; better, give it as ``${ENV_VAR}``. One in
the query string (``?password=``) is refused.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["SqlConfig"]

_ASYNC_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise ValueError(
            "is not a SQLAlchemy URL; write e.g. postgresql+asyncpg://user@host:5432/db or "
            "sqlite+aiosqlite:///replica.sqlite3"
        ) from None


class SqlConfig(BaseModel):
    """Where the replica lives and how rows are kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        default="sqlite+aiosqlite:///iec-replica.sqlite3",
        description=(
            "SQLAlchemy URL of the database: postgresql+asyncpg://USER@HOST:5432/DB (PostgreSQL) "
            "or sqlite+aiosqlite:///PATH (SQLite, embedded; the default is a file in the working "
            "directory). A password in the URL is taken out into `password`."
        ),
        json_schema_extra={"examples": ["postgresql+asyncpg://iec@db.internal:5432/catalogue"]},
    )
    password: SecretStr | None = Field(
        default=None,
        description="The database password (a secret: give it as ${ENV_VAR}).",
    )
    table_prefix: str = Field(
        default="iec_",
        pattern=r"^[a-z_][a-z0-9_]{0,29}$",
        description=(
            "Prefix of the table names: one table per entity type, <prefix><entity_type> "
            "(iec_product, iec_category, ...). Lower-case letters, digits and _."
        ),
    )
    delete_mode: Literal["soft", "hard"] = Field(
        default="soft",
        description=(
            "soft: a deletion sets deleted_at and keeps the row (with its last payload) as a "
            "tombstone, so a stale replayed create can never bring the entity back; "
            "hard: a deletion removes the row."
        ),
    )
    create_tables: bool = Field(
        default=True,
        description=(
            "Create missing tables when the integration opens (CREATE TABLE IF NOT EXISTS; "
            "nothing is ever dropped or altered). false: only check that they exist, for a "
            "database user without DDL rights; create them once with `iec-connector setup`."
        ),
    )
    pool_size: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Connections kept open to PostgreSQL (concurrent batches beyond it wait).",
    )
    connect_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds to wait for a connection (then the batch is retried).",
    )
    statement_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description=(
            "Longest a batch's transaction may take; always kept below what remains of the "
            "integration's handle timeout."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _password_out_of_url(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            return data
        try:
            url = make_url(data["url"])
        except ArgumentError:
            return data  # the field's own validator says what is wrong
        if url.password is None:
            return data
        if data.get("password") is not None:
            raise ValueError("the password is given twice: in `url` and in `password`; keep one")
        bare = url._replace(password=None).render_as_string(hide_password=False)
        return {**data, "url": bare, "password": str(url.password)}

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        url = _parse(value)
        if any(name.lower() == "password" for name in url.query):
            # It would be sent, and shown wherever the URL is (only url.password is hidden).
            raise ValueError(
                "has a password in its query string; take it out and give it in the "
                "`password` field (a secret: ${ENV_VAR})"
            )
        backend, _, driver = url.drivername.partition("+")
        wanted = _ASYNC_DRIVERS.get(backend)
        if wanted is None:
            raise ValueError(
                "names a database this driver does not support; use postgresql+asyncpg:// or "
                "sqlite+aiosqlite://"
            )
        if driver and driver != wanted:
            raise ValueError(
                f"names the {driver} client, which is not asyncio; use {backend}+{wanted}://"
            )
        return url.set(drivername=f"{backend}+{wanted}").render_as_string(hide_password=False)

    @property
    def backend(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return make_url(self.url).get_backend_name()

    def sqlalchemy_url(self) -> URL:
        """The URL to connect with, password included (never log it; `display_url` is safe)."""
        url = make_url(self.url)
        if self.password is not None:
            url = url.set(password=self.password.get_secret_value())
        return url

    @property
    def display_url(self) -> str:
        """The URL without its password, for logs and messages."""
        return make_url(self.url).render_as_string(hide_password=True)
