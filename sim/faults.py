"""Fault plans for the fleet runner: ``--faults`` is comma-separated ``KIND@START[+DURATION][:TARGET]``.

    broker-outage@20+15              the broker is down from t=20 s for 15 s
    partition@30+10:node-00*         boards matching the glob lose their link for 10 s
    power-cycle@45:node-003          kill -9 then power on again
    gateway-kill@60+5                the gateway dies and comes back 5 s later
    platform-down@10+20              the urban platform answers 503 for 20 s
    platform-down@10+20:timeout      ... answers too late (after storing the batch) for 20 s
    platform-down@10+20:207          ... answers 207, part of every batch failing with 503, for 20 s
    clock-skew@5+30:node-001         the board's time source runs a day ahead for 30 s
    clock-skew@5+30~-2h:node-001     ... runs 2 hours behind for 30 s (~SKEW after the duration)
    sensor-fault@15+20:node-002      the board's sensors fail for 20 s

TARGET is a board id or glob for the kinds that act on boards; for platform-down it names how the
platform fails (PLATFORM_MODES, 503 when absent); the other kinds act on a shared service and take none.
clock-skew: the boards' wall clock comes from NTP (firmware/clock.py: NTP offset plus ticks), so the
fault skews the NTP server the targeted boards use by SKEW (default +1 day) for DURATION. A board's
clock goes off at its first sync after START and back at its first sync after the end (the fleet makes
those boards sync every reporting period). The default skew is larger than any run, so stamps taken
while skewed never coincide with true ones (the platform tells readings apart by node and time).

Times are in simulated seconds from the start of the run (``s``, ``m`` or ``h`` suffixes accepted).
Parsing is pure: ``parse()`` returns the plan or raises FaultPlanError saying which item is wrong.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from gateway.errors import InvalidInput

KINDS = ("broker-outage", "partition", "power-cycle", "gateway-kill", "platform-down", "clock-skew",
         "sensor-fault")
# Kinds that act on boards and so need a TARGET; the others act on a shared service.
BOARD_KINDS = ("partition", "power-cycle", "clock-skew", "sensor-fault")
# How platform-down fails, named by its TARGET: a 503 for every request, an answer later than the
# gateway waits for (the batch is stored all the same), or a 207 where part of each batch fails.
PLATFORM_MODES = ("503", "timeout", "207")
# Kinds that are a state held for a while and need a DURATION; power-cycle is an instant.
TIMED_KINDS = ("broker-outage", "partition", "platform-down", "clock-skew", "sensor-fault")

_ITEM = re.compile(r"^(?P<kind>[a-z-]+)@(?P<start>[^+:]+)(?:\+(?P<duration>[^:]+))?(?::(?P<target>.+))?$")
_TIME = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)?$")
_UNITS = {None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
DEFAULT_CLOCK_SKEW_S = 86400.0


class FaultPlanError(InvalidInput):
    """A ``--faults`` item that cannot be understood."""


@dataclass(frozen=True)
class Fault:
    kind: str
    start_s: float
    duration_s: float | None
    target: str | None
    skew_s: float | None = None   # clock-skew: seconds the time source is ahead (negative: behind)

    @property
    def end_s(self) -> float:
        return self.start_s + (self.duration_s or 0.0)

    def matches(self, board_id: str) -> bool:
        return self.target is None or fnmatch.fnmatchcase(board_id, self.target)

    def __str__(self) -> str:
        text = "%s@%g" % (self.kind, self.start_s)
        if self.duration_s is not None:
            text += "+%g" % self.duration_s
        if self.skew_s is not None and self.skew_s != DEFAULT_CLOCK_SKEW_S:
            text += "~%g" % self.skew_s
        return text + (":" + self.target if self.target else "")


def _seconds(text: str, what: str, item: str) -> float:
    match = _TIME.match(text.strip())
    if match is None:
        raise FaultPlanError("fault %r: %s %r is not a time (like 30, 30s, 2m or 1h)" % (item, what, text))
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_item(item: str) -> Fault:
    item = item.strip()
    match = _ITEM.match(item)
    if match is None:
        raise FaultPlanError("fault %r: expected KIND@START[+DURATION][:TARGET]" % item)
    kind = match.group("kind")
    if kind not in KINDS:
        raise FaultPlanError("fault %r: unknown kind %r (kinds: %s)" % (item, kind, ", ".join(KINDS)))
    start = _seconds(match.group("start"), "start", item)
    duration = match.group("duration")
    skew_s = None
    if kind == "clock-skew":
        skew_s = DEFAULT_CLOCK_SKEW_S
        if duration is not None and "~" in duration:
            duration, skew = duration.split("~", 1)
            sign = -1.0 if skew.strip().startswith("-") else 1.0
            skew_s = sign * _seconds(skew.strip().lstrip("+-"), "skew", item)
            if not skew_s:
                raise FaultPlanError("fault %r: a clock skew of 0 s is no fault" % item)
    duration_s = None if duration is None else _seconds(duration, "duration", item)
    target = match.group("target")
    if kind in TIMED_KINDS and not duration_s:
        raise FaultPlanError("fault %r: %s needs a duration (+SECONDS)" % (item, kind))
    if kind in BOARD_KINDS and not target:
        raise FaultPlanError("fault %r: %s needs a target board id or glob (:TARGET)" % (item, kind))
    if kind == "platform-down" and target and target not in PLATFORM_MODES:
        raise FaultPlanError("fault %r: platform-down fails as one of %s, not %r"
                             % (item, ", ".join(":" + mode for mode in PLATFORM_MODES), target))
    if kind not in BOARD_KINDS and kind != "platform-down" and target:
        raise FaultPlanError("fault %r: %s acts on a service, not on boards; drop :%s" % (item, kind, target))
    return Fault(kind, start, duration_s, target, skew_s)


def parse(plan: str | None) -> list[Fault]:
    """-> the faults of ``plan`` in start order (an empty or None plan has none)."""
    if not plan or not plan.strip():
        return []
    items = plan.split(",")
    if any(not item.strip() for item in items):
        raise FaultPlanError("fault plan %r has an empty item (a stray comma?)" % plan)
    return sorted((parse_item(item) for item in items), key=lambda fault: fault.start_s)


def unmatched(plan: list[Fault], board_ids: list[str]) -> list[Fault]:
    """Board faults whose target matches none of ``board_ids`` (a typo the runner refuses)."""
    return [fault for fault in plan
            if fault.kind in BOARD_KINDS and not any(fault.matches(b) for b in board_ids)]
