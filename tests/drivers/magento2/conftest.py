"""Fixtures for the Magento driver's tests: a fake store served on a local port.

Every test using `fake_store` fails at teardown if the store saw a request Adobe's schema
refuses (or answered with a body that drifted from the schema).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drivers.magento2.fake_store import FakeMagento, FakeMagentoServer, StoreView


@pytest.fixture
def fake_store() -> Iterator[FakeMagento]:
    store = FakeMagento(store_views=[StoreView(2, "de", "Deutsch"), StoreView(3, "fr", "Français")])
    yield store
    assert store.violations == [], "requests or responses the schema refuses"


@pytest.fixture
def fake_server(fake_store: FakeMagento) -> Iterator[FakeMagentoServer]:
    with FakeMagentoServer(fake_store) as server:
        yield server
