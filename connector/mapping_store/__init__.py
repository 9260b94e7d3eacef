"""The Kafka-backed `EntityMappingService`: one compacted topic per integration, held in memory.

`KafkaMappingStore` is the service (sync, bulk and awaitable); it sits on `reader` (restore,
tail, read barrier), `writer` (batched durable writes) and `changes` (what a write puts on the
topic, no I/O). `record` is the wire format of the topic, `view` the in-memory state and its
ordering rule, `topic` the topic's declared settings.
"""

from connector.mapping_store.record import MappingRecord, decode_record, encode_record, mapping_key
from connector.mapping_store.store import KafkaMappingStore, MappingStoreStats
from connector.mapping_store.topic import MAPPING_TOPIC_CONFIG, MAPPING_TOPIC_PARTITIONS

__all__ = [
    "MAPPING_TOPIC_CONFIG",
    "MAPPING_TOPIC_PARTITIONS",
    "KafkaMappingStore",
    "MappingRecord",
    "MappingStoreStats",
    "decode_record",
    "encode_record",
    "mapping_key",
]
