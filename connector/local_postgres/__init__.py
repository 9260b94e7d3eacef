"""A throwaway PostgreSQL cluster for development and tests, from the server's own packages.

`ensure_running()` initdb's a cluster once (outside the repository, see `state_dir()`) and
starts it on 127.0.0.1:55432 with a superuser `iec`, a random password and a database `iec`;
`Cluster.url()` is its SQLAlchemy URL. CLI: `python -m connector.local_postgres
up|down|status|url`. Standard library only. The server itself comes from the distribution
(`apt-get install postgresql`); `.ci/run` installs it when it is missing.
"""

from __future__ import annotations

from .launcher import (
    DEFAULT_PORT,
    Cluster,
    LocalPostgresError,
    ensure_running,
    restart,
    running_cluster,
    state_dir,
    stop,
)

__all__ = [
    "DEFAULT_PORT",
    "Cluster",
    "LocalPostgresError",
    "ensure_running",
    "restart",
    "running_cluster",
    "state_dir",
    "stop",
]
