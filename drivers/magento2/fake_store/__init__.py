"""A fake Magento 2.4 store for tests, the demo and the benchmark.

`FakeMagento` keeps a catalogue in memory (products by SKU, categories, attributes with
options, attribute sets and groups, bulk operations), checks every request against Adobe's
published admin REST schema (shipped beside it with its Apache-2.0 licence), answers in
Magento's shapes and error model, and can inject latency, 429s, 503s, transient 400s and
401s. `FakeMagentoServer` serves it on a local port.
"""

from drivers.magento2.fake_store.app import FakeMagento, Response
from drivers.magento2.fake_store.auth import StoreCredentials
from drivers.magento2.fake_store.faults import Fault, FaultKind, Faults
from drivers.magento2.fake_store.routes import StoreView
from drivers.magento2.fake_store.server import FakeMagentoServer

__all__ = [
    "FakeMagento",
    "FakeMagentoServer",
    "Fault",
    "FaultKind",
    "Faults",
    "Response",
    "StoreCredentials",
    "StoreView",
]
