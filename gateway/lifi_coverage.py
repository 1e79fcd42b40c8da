"""LiFi coverage from `lifi-beacon` events: verify each reported beacon, keep who heard which lamp.

A LiFi receiver reports every frame it decodes as a `lifi-beacon` event whose detail is
``{"b": <frame bytes>, "q": <quality 0..1>}`` (firmware/roles/lifi_rx.py). This module, pure and without
I/O, checks the frame as an authenticated lamp beacon (protocols.lifi.beacon: HMAC tag under the lamp's
key, derived from the site master key, and a per-lamp replay window) and turns accepted ones into
coverage facts: receiver id, lamp id, first and last seen, how many beacons, best quality. The inventory
stores them on both rows: the receiver's (which lamps it sees) and the luminaire's (who sees it).

Rejections raise `BeaconRejected` with a reason, counted in `counts`: ``bad-detail`` (not the detail
shape above), ``truncated``, ``malformed`` (wrong length or version: also every text message a receiver
picked up), ``unknown-lamp`` (the inventory has no such luminaire), ``forged`` (bad tag), ``replayed``.

Several receivers under one lamp decode the same beacon: a counter already accepted is accepted again
from a *different* receiver, with the very same bytes, within `simultaneous_s` of its first acceptance;
the same receiver reporting it twice, or anyone reporting it later, is a replay. (A live relay of the
light cannot be told apart by counters; it would need distance bounding.)

The replay windows live in memory: after a gateway restart, `restore(lamp, counter)` with the highest
counter the inventory kept (`last_counter` of the lamp's facts) refuses everything up to it again.

Bounds: co-observation memory holds `max_recent` beacons and the fact table `max_facts` pairs; past
either, the least recent entry is dropped and counted (`recent-evicted`, `facts-evicted`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from protocols.lifi import beacon as lifi_beacon

REASONS = ("bad-detail", "truncated", "malformed", "unknown-lamp", "forged", "replayed")


class BeaconRejected(ValueError):
    """A reported beacon was refused; `reason` is one of REASONS."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class CoverageFact:
    receiver: str
    lamp: str  # 12 hex digits: the luminaire's MAC, its node id by default
    first_seen: float
    last_seen: float
    count: int
    best_quality: float | None
    last_counter: int

    def as_item(self) -> dict:
        """JSON-ready form for the inventory's `lifi` column."""
        return {"receiver": self.receiver, "lamp": self.lamp, "first_seen": self.first_seen,
                "last_seen": self.last_seen, "count": self.count, "best_q": self.best_quality}


class LifiCoverage:
    def __init__(self, master_key: bytes, is_known_lamp: Callable[[str], bool] | None = None, *,
                 simultaneous_s: float = 2.0, max_recent: int = 4096, max_facts: int = 100_000):
        """`master_key`: the site's LiFi beacon master key (lamp keys derive from it). `is_known_lamp`
        (lamp id hex -> bool), when given, limits beacons to luminaires the inventory holds."""
        if not master_key:
            raise ValueError("the LiFi beacon master key is empty")
        self._master_key = bytes(master_key)
        self._is_known_lamp = is_known_lamp
        self._verifier = lifi_beacon.BeaconVerifier(self._key_for)
        self.simultaneous_s = simultaneous_s
        self.max_recent = max_recent
        self.max_facts = max_facts
        # (lamp, counter) -> (beacon bytes, first accepted at, receivers that reported it)
        self._recent: OrderedDict[tuple[bytes, int], tuple[bytes, float, set[str]]] = OrderedDict()
        self._facts: OrderedDict[tuple[str, str], CoverageFact] = OrderedDict()
        self._floors: dict[bytes, int] = {}  # lamp id -> highest counter accepted before a restart
        self.counts = dict.fromkeys(("accepted", "co-observed", *REASONS, "recent-evicted", "facts-evicted"), 0)

    def restore(self, lamp: str, counter: int) -> None:
        """After a restart: beacons of `lamp` (12 hex digits) up to `counter` count as replays."""
        lamp_id = bytes.fromhex(lamp)
        self._floors[lamp_id] = max(counter, self._floors.get(lamp_id, -1))

    def restore_fact(self, item: dict, counter: int) -> None:
        """After a restart: a coverage fact as the inventory kept it (an `as_item()`), so its count and first
        sighting carry on, and `restore(lamp, counter)`."""
        self.restore(item["lamp"], counter)
        fact = CoverageFact(item["receiver"], item["lamp"], item["first_seen"], item["last_seen"],
                            item["count"], item.get("best_q"), counter)
        self._facts[(fact.receiver, fact.lamp)] = fact
        while len(self._facts) > self.max_facts:
            self._facts.popitem(last=False)
            self.counts["facts-evicted"] += 1

    def _key_for(self, lamp_id: bytes) -> bytes | None:
        if self._is_known_lamp is not None and not self._is_known_lamp(lamp_id.hex()):
            return None
        return lifi_beacon.derive_lamp_key(self._master_key, lamp_id)

    def observe(self, receiver: str, detail: object, now: float) -> CoverageFact:
        """Verify one `lifi-beacon` event detail from `receiver` at time `now` (seconds) and return the
        updated coverage fact of (receiver, lamp). Raises BeaconRejected (counted)."""
        try:
            data, quality = _parse_detail(detail)
            lamp_id, counter = self._verify(receiver, data, now)
        except BeaconRejected as exc:
            self.counts[exc.reason] += 1
            raise
        return self._record(receiver, lamp_id.hex(), counter, quality, now)

    def _verify(self, receiver: str, data: bytes, now: float) -> tuple[bytes, int]:
        self._forget_before(now - self.simultaneous_s)
        try:
            found = self._verifier.verify(data)
        except lifi_beacon.BeaconReplayed as exc:
            return self._co_observed(receiver, data, now, exc)
        except lifi_beacon.BeaconError as exc:
            raise BeaconRejected(exc.reason, str(exc)) from None
        if found.counter <= self._floors.get(found.lamp_id, -1):
            raise BeaconRejected("replayed", f"counter {found.counter} was accepted before the restart")
        self._remember(found.lamp_id, found.counter, data, now, receiver)
        self.counts["accepted"] += 1
        return found.lamp_id, found.counter

    def _co_observed(self, receiver: str, data: bytes, now: float, exc: Exception) -> tuple[bytes, int]:
        lamp_id, counter, _, _ = lifi_beacon.parse_beacon(data)
        seen = self._recent.get((lamp_id, counter))
        if seen is None or seen[0] != data or receiver in seen[2] or now - seen[1] > self.simultaneous_s:
            raise BeaconRejected("replayed", str(exc))
        seen[2].add(receiver)
        self.counts["co-observed"] += 1
        return lamp_id, counter

    def _remember(self, lamp_id: bytes, counter: int, data: bytes, now: float, receiver: str) -> None:
        self._recent[(lamp_id, counter)] = (bytes(data), now, {receiver})
        while len(self._recent) > self.max_recent:
            self._recent.popitem(last=False)
            self.counts["recent-evicted"] += 1

    def _forget_before(self, cutoff: float) -> None:
        # Accepted in time order, so the oldest are first.
        while self._recent:
            key, (_, first, _) = next(iter(self._recent.items()))
            if first >= cutoff:
                break
            del self._recent[key]

    def _record(self, receiver: str, lamp: str, counter: int, quality: float | None, now: float) -> CoverageFact:
        key = (receiver, lamp)
        fact = self._facts.get(key)
        if fact is None:
            fact = CoverageFact(receiver, lamp, now, now, 0, None, counter)
            self._facts[key] = fact
            while len(self._facts) > self.max_facts:
                self._facts.popitem(last=False)
                self.counts["facts-evicted"] += 1
        else:
            self._facts.move_to_end(key)
        fact.last_seen = now
        fact.count += 1
        fact.last_counter = counter
        if quality is not None and (fact.best_quality is None or quality > fact.best_quality):
            fact.best_quality = quality
        return fact

    def facts(self, *, receiver: str | None = None, lamp: str | None = None) -> list[CoverageFact]:
        return [f for f in self._facts.values()
                if (receiver is None or f.receiver == receiver) and (lamp is None or f.lamp == lamp)]


def _parse_detail(detail: object) -> tuple[bytes, float | None]:
    if not isinstance(detail, dict) or not isinstance(detail.get("b"), (bytes, bytearray)):
        raise BeaconRejected("bad-detail", "lifi-beacon detail must be a map with the frame bytes under 'b'")
    quality = detail.get("q")
    if quality is not None and (isinstance(quality, bool) or not isinstance(quality, (int, float))
                                or not 0 <= quality <= 1):
        raise BeaconRejected("bad-detail", "lifi-beacon quality 'q' must be a number in 0..1")
    return bytes(detail["b"]), None if quality is None else float(quality)


def merge_items(items: list[dict] | None, fact: CoverageFact) -> list[dict]:
    """A row's `lifi` coverage list with `fact` replacing the item of the same (receiver, lamp): the
    receiver's row lists the lamps it sees, the luminaire's row the receivers that see it."""
    kept = [i for i in (items or []) if (i.get("receiver"), i.get("lamp")) != (fact.receiver, fact.lamp)]
    return kept + [fact.as_item()]
