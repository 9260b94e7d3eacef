"""`Faults`: failures the fake store injects, for tests, the demo and the benchmark.

Each `Fault` answers the next `times` requests that match it (method and path prefix below
``/rest/<store>``, both optional) instead of the store. The kinds are the failures a
Magento driver must survive, with the bodies Magento (or the proxy in front of it) sends:

* ``rate_limit``: 429 with ``Retry-After`` (Fastly on Adobe Commerce Cloud, ACCS);
* ``unavailable``: 503 (maintenance mode, an overloaded upstream);
* ``deadlock``/``lock_wait``/``db_connection``: 400 with the messages of
  ``TemporaryState\\CouldNotSaveException``, which is a ``LocalizedException``, so 400;
* ``unauthorized``: 401 ``The consumer isn't authorized to access %resources.``.

`rate` makes a fault random instead (a share of matching requests, seeded), for soak runs.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Literal

from drivers.magento2.fake_store.errors import MagentoError

__all__ = ["Fault", "FaultKind", "Faults"]

FaultKind = Literal[
    "rate_limit", "unavailable", "deadlock", "lock_wait", "db_connection", "unauthorized"
]

_TRANSIENT_400 = {
    "deadlock": "Database deadlock found when trying to get lock",
    "lock_wait": "Database lock wait timeout exceeded",
    "db_connection": "Database connection error",
}


@dataclass
class Fault:
    kind: FaultKind
    times: int = 1
    method: str | None = None
    path_prefix: str | None = None
    rate: float | None = None
    """If set, a share (0..1) of matching requests fail, for as long as `times` lasts."""
    retry_after_s: int = 1
    resource: str = "Magento_Catalog::products"
    fired: int = field(default=0, init=False)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path_prefix is None or path.startswith(self.path_prefix)
        )

    def error(self) -> MagentoError:
        if self.kind == "rate_limit":
            return MagentoError(
                429, "Too Many Requests", headers={"Retry-After": str(self.retry_after_s)}
            )
        if self.kind == "unavailable":
            return MagentoError(503, "Service Unavailable")
        if self.kind == "unauthorized":
            return MagentoError(
                401,
                "The consumer isn't authorized to access %resources.",
                {"resources": self.resource},
            )
        return MagentoError(400, _TRANSIENT_400[self.kind])


class Faults:
    """The injected faults of one store; thread-safe (tests add faults from their thread)."""

    def __init__(self, seed: int = 0) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def inject(
        self,
        kind: FaultKind,
        times: int = 1,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        rate: float | None = None,
        retry_after_s: int = 1,
    ) -> Fault:
        """Fail the next `times` matching requests with `kind` (see the module docstring)."""
        return self.add(Fault(kind, times, method, path_prefix, rate, retry_after_s))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def next_error(self, method: str, path: str) -> MagentoError | None:
        """The error to answer this request with, if a fault fires for it."""
        with self._lock:
            for fault in self._faults:
                if fault.fired >= fault.times or not fault.matches(method, path):
                    continue
                if fault.rate is not None and self._random.random() >= fault.rate:
                    continue
                fault.fired += 1
                return fault.error()
        return None
