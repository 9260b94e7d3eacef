"""The Magento 2 driver (``magento2``): IEC catalogue events into a Magento 2.4 store.

`drivers.magento2.fake_store` is a fake Magento checked against Adobe's published schema,
for tests, the demo and the benchmark.
"""
