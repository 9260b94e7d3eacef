"""The IEC connector runtime: Kafka I/O, codec, batching, commits, mappings, dead letters."""

__version__ = "0.1.0"
