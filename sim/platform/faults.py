"""Faults the fake platform answers on demand, applied to upsert requests in the order they were queued."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

from gateway.errors import InvalidInput


@dataclass
class Fault:
    # Answer the whole request with this status, storing nothing. With entity_errors, only requests that
    # contain one of those entities fail so (a platform refusing a whole batch for one bad entity).
    status: int | None = None
    entity_errors: dict[str, int] = field(default_factory=dict)  # else 207: these ids fail with these statuses
    # Else 207: every Nth entity received fails with `fail_status` (0: off), whatever its id — a platform
    # that is partly overloaded. The count runs across requests, so a retried entity may pass next time.
    fail_every: int = 0
    fail_status: int = 503
    delay_s: float = 0.0  # answer this late (a client with a shorter timeout gives up first)
    commit: bool = True  # with a delay: whether the request still takes effect (as a real slow broker's would)
    count: int | None = 1  # how many upsert requests it applies to; None: until cleared
    _entities_seen: itertools.count = field(default_factory=itertools.count, repr=False, compare=False)

    def fails_in_turn(self) -> bool:
        """Whether the next entity is one `fail_every` picks (thread-safe: itertools.count is atomic)."""
        return bool(self.fail_every) and next(self._entities_seen) % self.fail_every == self.fail_every - 1

    @classmethod
    def from_json(cls, data: dict) -> Fault:
        if not isinstance(data, dict):
            raise InvalidInput("a fault is a JSON object")
        unknown = set(data) - {"status", "entity_errors", "fail_every", "fail_status", "delay_s", "commit",
                               "count"}
        if unknown:
            raise InvalidInput(f"unknown fault fields: {sorted(unknown)}")
        fault = cls(status=data.get("status"), entity_errors=dict(data.get("entity_errors") or {}),
                    fail_every=data.get("fail_every") or 0, fail_status=data.get("fail_status", 503),
                    delay_s=float(data.get("delay_s") or 0.0), commit=bool(data.get("commit", True)),
                    count=data.get("count", 1))
        if fault.status is not None and not (isinstance(fault.status, int) and 100 <= fault.status <= 599):
            raise InvalidInput(f"bad status {fault.status!r}")
        if not isinstance(fault.fail_every, int) or fault.fail_every < 0:
            raise InvalidInput(f"bad fail_every {fault.fail_every!r}")
        if not (isinstance(fault.fail_status, int) and 400 <= fault.fail_status <= 599):
            raise InvalidInput(f"bad fail_status {fault.fail_status!r}")
        if fault.count is not None and (not isinstance(fault.count, int) or fault.count < 1):
            raise InvalidInput(f"bad count {fault.count!r}")
        return fault

    def to_json(self) -> dict:
        return {"status": self.status, "entity_errors": self.entity_errors, "fail_every": self.fail_every,
                "fail_status": self.fail_status, "delay_s": self.delay_s,
                "commit": self.commit, "count": self.count}


class FaultPlan:
    def __init__(self):
        self._lock = threading.Lock()
        self._queue: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._queue.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def take(self) -> Fault | None:
        """The fault for the next upsert request, if any, consuming one use of it."""
        with self._lock:
            if not self._queue:
                return None
            fault = self._queue[0]
            if fault.count is not None:
                fault.count -= 1
                if fault.count == 0:
                    self._queue.pop(0)
            return fault

    def pending(self) -> list[dict]:
        with self._lock:
            return [fault.to_json() for fault in self._queue]
