"""`ConsumedRecord`: one Kafka record as the runtime carries it from poll to commit (and, when
it fails, to the dead-letter topic)."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts import MutationData

__all__ = ["ConsumedRecord"]


@dataclass(slots=True, eq=False)
class ConsumedRecord:
    """The raw record (kept for dead letters) and, once decoded, its mutation.

    `generation` is the assignment generation of its partition when it was fetched; results
    for records of an older generation (partition revoked meanwhile) are ignored.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None
    timestamp_ms: int
    """Record timestamp in ms since the epoch (-1 if the broker gave none)."""
    generation: int = 0
    mutation: MutationData | None = None
    entity_type: str = ""
    """The entity type from the topic name (known even when the value does not decode)."""
    error: BaseException | None = None
    """Why the value could not be decoded (then `mutation` is None)."""
    attempts: int = field(default=0)
    """Failed attempts to handle it so far (decode or driver)."""
    first_failed_at: float = 0.0
    """`time.monotonic()` of its first failure (0: none yet); bounds `max_elapsed_ms`."""

    @property
    def size(self) -> int:
        return len(self.value) if self.value is not None else 0
