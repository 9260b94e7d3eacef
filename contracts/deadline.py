"""`Deadline`: how long the current `handle`/`handle_batch` call may still take.

The runtime runs every driver call inside `deadline_scope(handle_timeout_s)`; a driver reads
the deadline through `current_deadline()` (or `IntegrationContext.deadline()`) and sets its
own timeouts below it, so its downstream calls end, and report, before the runtime gives up
on the call. The deadline lives in a `contextvars.ContextVar`: each call (an asyncio task, or
a worker thread running in a copied context) sees its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["Deadline", "current_deadline", "deadline_scope"]

_MIN_TIMEOUT_S = 0.001


@dataclass(frozen=True, slots=True)
class Deadline:
    """A point on the monotonic clock by which a call must be done."""

    timeout_s: float
    """The configured timeout the deadline was made from (the integration's handle timeout)."""
    expires_at: float
    """`time.monotonic()` value at which the call is over its time."""

    @classmethod
    def after(cls, timeout_s: float) -> Deadline:
        """A deadline `timeout_s` seconds from now."""
        return cls(timeout_s, time.monotonic() + timeout_s)

    def remaining(self) -> float:
        """Seconds left (0 once expired)."""
        return max(0.0, self.expires_at - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.expires_at

    def timeout(self, at_most: float | None = None, *, margin_s: float = 0.0) -> float:
        """A timeout for one downstream operation: what remains minus `margin_s`, capped at
        `at_most`, and never below a millisecond (a zero timeout means "none" to some clients).
        """
        left = self.remaining() - margin_s
        if at_most is not None:
            left = min(left, at_most)
        return max(left, _MIN_TIMEOUT_S)


_CURRENT: ContextVar[Deadline | None] = ContextVar("iec_driver_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the driver call running in this context, or None outside one."""
    return _CURRENT.get()


@contextmanager
def deadline_scope(timeout_s: float) -> Iterator[Deadline]:
    """Run the body under a deadline `timeout_s` from now (the runtime and the test harness
    wrap each driver call in one)."""
    deadline = Deadline.after(timeout_s)
    token = _CURRENT.set(deadline)
    try:
        yield deadline
    finally:
        _CURRENT.reset(token)
