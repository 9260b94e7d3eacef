"""The publishing SDK: put `MutationData` on its topic, from threads or from asyncio."""

from connector.publisher.async_mutation_publisher import (
    DEFAULT_AIOKAFKA_CONFIG,
    AsyncMutationPublisher,
)
from connector.publisher.delivery import DeliveryFailure, DeliveryReport, PublishError
from connector.publisher.mutation_publisher import DEFAULT_PRODUCER_CONFIG, MutationPublisher
from connector.publisher.outgoing import EVENT_ID_HEADER

__all__ = [
    "DEFAULT_AIOKAFKA_CONFIG",
    "DEFAULT_PRODUCER_CONFIG",
    "EVENT_ID_HEADER",
    "AsyncMutationPublisher",
    "DeliveryFailure",
    "DeliveryReport",
    "MutationPublisher",
    "PublishError",
]
