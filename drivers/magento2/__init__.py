"""The Magento 2 driver (``magento2``): IEC catalogue events into a Magento 2.4 store.

`drivers.magento2.fake_store` is a fake Magento checked against Adobe's published schema,
for tests, the demo and the benchmark.
"""

from drivers.magento2.config import DEFAULT_FIELD_MAP, Magento2Config
from drivers.magento2.driver import Magento2Driver

__all__ = ["DEFAULT_FIELD_MAP", "Magento2Config", "Magento2Driver"]
