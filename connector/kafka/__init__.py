"""The connector's one Kafka layer, below the runtime, the mapping store and dead letters.

- `clients`: every Consumer, Producer and AdminClient is built here (common configuration,
  logger, error callback);
- `acked_producer`: `AckedProducer`, writes that wait for the broker's acknowledgement
  (acks=all, idempotent), blocking or awaitable, many records per wait;
- `errors`: Kafka error codes sorted into families (transient, permanent, configuration,
  fatal), the one table;
- `preflight`: does the cluster answer and accept our credentials;
- `records`: `ConsumedRecord`, a record as consumed.
"""

from connector.kafka.acked_producer import AckedProducer, Delivery, ProducerRecord, Settle
from connector.kafka.clients import (
    ClientConfig,
    ClientErrorLog,
    new_admin,
    new_consumer,
    new_producer,
)
from connector.kafka.errors import (
    ErrorFamily,
    as_integration_error,
    cluster_failure,
    describe,
    error_of,
    family_of,
)
from connector.kafka.preflight import check_connection
from connector.kafka.records import ConsumedRecord

__all__ = [
    "AckedProducer",
    "ClientConfig",
    "ClientErrorLog",
    "ConsumedRecord",
    "Delivery",
    "ErrorFamily",
    "ProducerRecord",
    "Settle",
    "as_integration_error",
    "check_connection",
    "cluster_failure",
    "describe",
    "error_of",
    "family_of",
    "new_admin",
    "new_consumer",
    "new_producer",
]
