"""The `sql` driver: a replica of the catalogue in PostgreSQL (asyncpg) or SQLite (aiosqlite).

See `drivers.sql.driver` for the lifecycle and the batch protocol, `drivers.sql.tables` for
the table shape and `drivers.sql.config` for the configuration.
"""

from drivers.sql.config import SqlConfig
from drivers.sql.driver import SqlDriver
from drivers.sql.tables import table_name

__all__ = ["SqlConfig", "SqlDriver", "table_name"]
