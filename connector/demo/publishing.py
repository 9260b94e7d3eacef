"""Publishing the demo catalogue through the publisher SDK, reporting each acknowledgement."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass

from connector.publisher import DeliveryReport, MutationPublisher, PublishError
from connector.topics import TopicSettings
from contracts import MutationData

__all__ = ["PublishOutcome", "publish_mutations"]

_FLUSH_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    acknowledged: int
    seconds: float


def publish_mutations(
    mutations: Iterable[MutationData],
    *,
    bootstrap_servers: str,
    topics: TopicSettings,
    client_config: dict[str, str] | None = None,
    on_acknowledged: Callable[[int], None] = lambda n: None,
) -> PublishOutcome:
    """Publish every mutation and wait for all acknowledgements; `PublishError` if any failed.

    `on_acknowledged(n)` is called with the running count as the broker acknowledges records
    (from the publisher's delivery callbacks, i.e. on this thread).
    """
    acknowledged = 0
    lock = threading.Lock()

    def count(future: Future[DeliveryReport]) -> None:
        nonlocal acknowledged
        if future.cancelled() or future.exception() is not None:
            return  # reported by flush() below
        with lock:
            acknowledged += 1
            n = acknowledged
        on_acknowledged(n)

    config = {k: v for k, v in (client_config or {}).items() if k != "bootstrap.servers"}
    started = time.perf_counter()
    publisher = MutationPublisher(bootstrap_servers, topics=topics, config=config)
    try:
        for mutation in mutations:
            publisher.publish(mutation).add_done_callback(count)
        publisher.flush(_FLUSH_TIMEOUT_S)
    finally:
        with contextlib.suppress(PublishError):  # flush() raised for the same failures
            publisher.close(timeout=5.0)
    return PublishOutcome(acknowledged, time.perf_counter() - started)
