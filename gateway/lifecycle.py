"""Device lifecycle as a pure state machine (DESIGN.md §5-6): no I/O, the time is passed in.

`Life` holds what the gateway knows of one node's current boot; the `on_*` functions update it for one
message and return the lifecycle events it causes, as (event, detail) pairs. The ingest shell turns
"rebirth-requested" into a `cmd` publish and stores every event as a lifecycle history row.

`SeqWindow` is the per-(node, channel, boot) record of which sequence numbers were seen, for deduplication.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

ONLINE, STALE, OFFLINE = "online", "stale", "offline"
# Reset causes that mean the node did not restart on purpose.
CRASH_RESETS = ("watchdog", "panic", "brownout")

Event = tuple[str, dict]


@dataclass(slots=True)
class Life:
    boot: int | None = None
    born: bool = False  # a birth of `boot` was seen and no matching death since
    next_seq: int | None = None  # the next `data` seq expected in this boot
    buffered: int = 0  # readings the node says it holds unsent (explains a gap)
    dropped: int = 0  # readings the node says its full buffer dropped since first boot
    period: float = 60.0
    last_seen: float | None = None
    liveness: str = OFFLINE
    last_rebirth: float | None = None
    reset: str | None = None
    gaps: int = 0  # data readings missing from the sequence and not explained by the node's buffer


@dataclass(frozen=True)
class Policy:
    rebirth_on_gap: bool = True
    # A member of a shared subscription gets every other message of a node, not a sequence: a gap it sees
    # says nothing of loss, and recording one (history row, device write) per message would cost more than
    # the message itself.
    track_gaps: bool = True
    rebirth_interval_s: float = 30.0  # at most one rebirth request per node in this time
    stale_after_periods: float = 3.0
    offline_after_periods: float = 10.0


def _seen(life: Life, now: float, events: list[Event]) -> None:
    life.last_seen = now
    if life.liveness != ONLINE:
        events.append(("liveness", {"from": life.liveness, "to": ONLINE}))
        life.liveness = ONLINE


def _request_rebirth(life: Life, now: float, reason: str, policy: Policy, events: list[Event]) -> None:
    if life.last_rebirth is None or now - life.last_rebirth >= policy.rebirth_interval_s:
        life.last_rebirth = now
        events.append(("rebirth-requested", {"reason": reason}))


def on_birth(
    life: Life, boot: int, seq: int, reset: str | None, buffered: int, dropped: int, now: float
) -> list[Event]:
    events: list[Event] = []
    if life.boot is None:
        events.append(("first-birth", {"boot": boot, "reset": reset}))
    elif boot > life.boot:
        kind = "crash-reboot" if reset in CRASH_RESETS else "reboot"
        events.append((kind, {"from": life.boot, "to": boot, "reset": reset}))
    elif boot < life.boot:
        # A boot counter going back means its flash was erased or the board was swapped.
        events.append(("boot-counter-reset", {"from": life.boot, "to": boot, "reset": reset}))
    else:
        events.append(("rebirth", {"boot": boot}))
    life.boot, life.born, life.next_seq = boot, True, seq
    life.buffered, life.reset = buffered, reset
    if dropped > life.dropped:
        events.append(("node-dropped", {"count": dropped - life.dropped}))
    life.dropped = dropped
    _seen(life, now, events)
    return events


def on_death(life: Life, boot: int, now: float) -> list[Event]:
    if not life.born or boot != life.boot:
        return [("death-ignored", {"boot": boot, "current": life.boot})]
    life.born = False
    events: list[Event] = [("death", {"boot": boot})]
    if life.liveness != OFFLINE:
        events.append(("liveness", {"from": life.liveness, "to": OFFLINE}))
        life.liveness = OFFLINE
    return events


def on_data(life: Life, boot: int, seq: int, now: float, policy: Policy) -> list[Event]:
    """A new (not duplicate) data message."""
    events: list[Event] = []
    _seen(life, now, events)
    if life.boot is not None and boot < life.boot:
        return events  # a reading of an earlier boot replayed from the node's buffer
    if not life.born or boot != life.boot or life.next_seq is None:
        _request_rebirth(life, now, "data-before-birth", policy, events)
        return events
    gap = seq - life.next_seq
    if gap > 0 and gap > life.buffered and policy.track_gaps:
        life.gaps += gap
        events.append(("gap", {"from": life.next_seq, "to": seq, "missing": gap}))
        if policy.rebirth_on_gap:
            _request_rebirth(life, now, "sequence-gap", policy, events)
    if seq >= life.next_seq:
        life.next_seq = seq + 1
    return events


def on_status(
    life: Life, buffered: int | None, dropped: int | None, period: float | None, now: float
) -> list[Event]:
    events: list[Event] = []
    _seen(life, now, events)
    if buffered is not None:
        life.buffered = buffered
    if dropped is not None:
        if dropped > life.dropped:
            events.append(("node-dropped", {"count": dropped - life.dropped}))
        life.dropped = dropped
    if period:
        life.period = float(period)
    return events


def on_seen(life: Life, now: float) -> list[Event]:
    """Any other uplink (evt, ack) proves the node alive."""
    events: list[Event] = []
    _seen(life, now, events)
    return events


def liveness_at(life: Life, now: float, policy: Policy) -> str:
    if not life.born or life.last_seen is None:
        return OFFLINE
    age = now - life.last_seen
    if age <= policy.stale_after_periods * life.period:
        return ONLINE
    if age <= policy.offline_after_periods * life.period:
        return STALE
    return OFFLINE


def tick(life: Life, now: float, policy: Policy) -> list[Event]:
    """Re-evaluate liveness from silence; call periodically."""
    state = liveness_at(life, now, policy)
    if state == life.liveness:
        return []
    event = ("liveness", {"from": life.liveness, "to": state})
    life.liveness = state
    return [event]


class SeqWindow:
    """Sequence numbers seen in one (node, channel, boot), as sorted half-open intervals [lo, hi).

    In-order traffic keeps a single interval. At most MAX_INTERVALS are kept: beyond that the oldest gap is
    given up (treated as seen), so memory stays bounded whatever a node sends.
    """

    MAX_INTERVALS = 64
    __slots__ = ("intervals",)

    def __init__(self, intervals: list[list[int]] | None = None) -> None:
        self.intervals = intervals if intervals is not None else []

    def add(self, seq: int) -> bool:
        """Record `seq`; False if it was already seen."""
        spans = self.intervals
        if spans:
            last = spans[-1]
            if seq == last[1]:
                last[1] = seq + 1
                return True
            if seq > last[1]:
                spans.append([seq, seq + 1])
                self._bound()
                return True
        index = bisect_right(spans, seq, key=lambda span: span[0])
        if index and seq < spans[index - 1][1]:
            return False
        joins_left = index > 0 and spans[index - 1][1] == seq
        joins_right = index < len(spans) and spans[index][0] == seq + 1
        if joins_left and joins_right:
            spans[index - 1][1] = spans[index][1]
            del spans[index]
        elif joins_left:
            spans[index - 1][1] = seq + 1
        elif joins_right:
            spans[index][0] = seq
        else:
            spans.insert(index, [seq, seq + 1])
            self._bound()
        return True

    def top(self) -> int | None:
        """One past the highest sequence seen."""
        return self.intervals[-1][1] if self.intervals else None

    def _bound(self) -> None:
        spans = self.intervals
        while len(spans) > self.MAX_INTERVALS:
            spans[1][0] = spans[0][0]
            del spans[0]
