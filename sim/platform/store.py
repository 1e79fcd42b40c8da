"""The fake platform's memory: entities per tenant with NGSI-LD upsert semantics, and a count of every
observation it accepted per (tenant, entity id, observedAt), so that a duplicate delivery is visible.

A repeated delivery is told apart by content: the same entity again (an idempotent upsert a client
re-sends after a timeout or a crash) leaves the platform with one observation; a different entity under
the same id and time is a conflict (two observations claim one instant, the later overwrites the other)."""

from __future__ import annotations

import threading
from collections import Counter, deque

import orjson

DEFAULT_TENANT = ""


def observation_times(entity: dict) -> set[str]:
    """The observedAt instants an entity's attributes carry (one per reading, usually a single one)."""
    times = set()
    for attribute in entity.values():
        for item in attribute if isinstance(attribute, list) else (attribute,):
            if isinstance(item, dict) and isinstance(item.get("observedAt"), str):
                times.add(item["observedAt"])
    return times


class EntityStore:
    def __init__(self, received_limit: int = 1000):
        self._lock = threading.Lock()
        self._entities: dict[str, dict[str, dict]] = {}
        self._observations: Counter[tuple[str, str, str]] = Counter()
        self._first_content: dict[tuple[str, str, str], int] = {}  # digest of the first copy
        self._conflicts: Counter[tuple[str, str, str]] = Counter()  # later copies that differ from it
        self._counters: Counter[str] = Counter()
        self._rejections: Counter[str] = Counter()
        self._received: deque[dict] = deque(maxlen=received_limit)
        self._received_dropped = 0

    def upsert(self, tenant: str, entity: dict, mode: str) -> bool:
        """Store `entity`; True when it did not exist. mode "update" merges attributes, "replace" replaces."""
        entity = {k: v for k, v in entity.items() if k != "@context"}
        digest = hash(orjson.dumps(entity, option=orjson.OPT_SORT_KEYS))
        with self._lock:
            entities = self._entities.setdefault(tenant, {})
            existing = entities.get(entity["id"])
            if existing is not None and mode == "update":
                existing.update(entity)
            else:
                entities[entity["id"]] = entity
            for instant in observation_times(entity):
                key = (tenant, entity["id"], instant)
                self._observations[key] += 1
                if self._first_content.setdefault(key, digest) != digest:
                    self._conflicts[key] += 1
            self._counters["entities_accepted"] += 1
            return existing is None

    def get(self, tenant: str, entity_id: str) -> dict | None:
        with self._lock:
            entity = self._entities.get(tenant, {}).get(entity_id)
            return dict(entity) if entity is not None else None

    def query(self, tenant: str, entity_type: str | None = None) -> list[dict]:
        with self._lock:
            return [dict(e) for e in self._entities.get(tenant, {}).values()
                    if entity_type is None or e.get("type") == entity_type]

    def count(self, counter: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[counter] += amount

    def reject(self, reason: str, amount: int = 1) -> None:
        with self._lock:
            self._rejections[reason] += amount

    def record(self, summary: dict) -> None:
        # Bounded: the oldest summaries go first, and how many went is reported.
        with self._lock:
            if len(self._received) == self._received.maxlen:
                self._received_dropped += 1
            self._received.append(summary)

    def received(self) -> list[dict]:
        with self._lock:
            return list(self._received)

    def observation_counts(self, tenant: str = DEFAULT_TENANT) -> dict[tuple[str, str], int]:
        with self._lock:
            return {(eid, at): n for (t, eid, at), n in self._observations.items() if t == tenant}

    def observation_conflicts(self, tenant: str = DEFAULT_TENANT) -> dict[tuple[str, str], int]:
        """(entity id, observedAt) -> copies whose content differed from the first one (absent: none)."""
        with self._lock:
            return {(eid, at): n for (t, eid, at), n in self._conflicts.items() if t == tenant}

    def stats(self) -> dict:
        with self._lock:
            duplicates = [{"tenant": t, "id": eid, "observedAt": at, "count": n}
                          for (t, eid, at), n in self._observations.items() if n > 1]
            stored = {tenant or DEFAULT_TENANT: len(entities) for tenant, entities in self._entities.items()}
            return {
                "counters": dict(self._counters),
                "rejections": dict(self._rejections),
                "entities_stored": stored,
                "observations": {"distinct": len(self._observations),
                                 "total": sum(self._observations.values()),
                                 "duplicates": len(duplicates)},
                "duplicates": duplicates[:1000],
                "observations_conflicting": len(self._conflicts),
                "received_kept": len(self._received),
                "received_dropped": self._received_dropped,
            }

    def clear(self) -> None:
        with self._lock:
            self._entities.clear()
            self._observations.clear()
            self._first_content.clear()
            self._conflicts.clear()
            self._counters.clear()
            self._rejections.clear()
            self._received.clear()
            self._received_dropped = 0
