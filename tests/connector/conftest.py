"""Fixtures shared by the connector tests that run the runtime against the real broker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from connector_env import ConnectorEnv, make_env


@pytest.fixture
def connector_env(
    kafka_bootstrap: str, tmp_path: Path, create_topics: Callable[..., list[str]]
) -> ConnectorEnv:
    """Unique topics, a config writer and a publisher for one test."""
    return make_env(kafka_bootstrap, tmp_path, create_topics)
