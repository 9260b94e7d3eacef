"""What a publisher tells its caller: delivery reports, delivery failures, `PublishError`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DeliveryFailure", "DeliveryReport", "PublishError"]

_LISTED = 5


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A mutation the broker acknowledged (acks=all): where it was written."""

    topic: str
    partition: int
    offset: int
    entity_uuid: str
    event_id: str | None


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    """A mutation that was not written. `error` is the client's error name and message."""

    topic: str
    entity_type: str
    entity_uuid: str
    event_id: str | None
    error: str
    retriable: bool
    """The client classed the error as retriable: publishing the mutation again may work."""


class PublishError(Exception):
    """One or more mutations were not delivered, or not acknowledged in time.

    `failures` lists the mutations the client gave up on; `undelivered` counts those still in
    flight when a flush or close timed out (they may yet be delivered or fail). `refusal` says
    why the cluster refuses the connection (TLS, credentials) and which setting to check,
    when it does: nothing is delivered until that setting is fixed.
    """

    def __init__(
        self,
        failures: Sequence[DeliveryFailure],
        *,
        undelivered: int = 0,
        refusal: str | None = None,
    ):
        self.failures = tuple(failures)
        self.undelivered = undelivered
        self.refusal = refusal
        parts = [
            f"{f.entity_type} {f.entity_uuid} to {f.topic}: {f.error}"
            for f in self.failures[:_LISTED]
        ]
        if len(self.failures) > _LISTED:
            parts.append(f"and {len(self.failures) - _LISTED} more")
        message = f"{len(self.failures)} mutation(s) not delivered"
        if parts:
            message += ": " + "; ".join(parts)
        if undelivered:
            message += f"; {undelivered} still unacknowledged when the wait timed out"
        if refusal:
            message += f"; the cluster refused the connection: {refusal}"
        super().__init__(message)
