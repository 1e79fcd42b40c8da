"""What the fake platform holds, counted in readings rather than entities.

Observation entity ids are `urn:ngsi-ld:<Type>:<node_id>[:<quantity>]` and one reading becomes several
entities, all stamped with the reading's time, so a reading is a distinct (node, observedAt). The platform
identifies an observation by (entity, observedAt): a copy of a reading upserted again with the same content
(the gateway re-sends what it was not sure got through: a timeout, a kill -9 between the platform's answer
and the outbox's record) is an idempotent upsert — still one observation, booked as `redelivered`. A copy
with different content under the same entity and time is a `conflicting` reading: two observations claim
one instant and the platform kept only the last.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.platform.server import FakePlatform
from sim.platform.store import DEFAULT_TENANT


@dataclass(frozen=True)
class ReadingBooks:
    accepted: int = 0  # distinct readings stored
    redelivered: int = 0  # readings upserted more than once, every copy the same
    conflicting: int = 0  # readings received again with different content


def reading_books(platform: FakePlatform, tenant: str = DEFAULT_TENANT) -> ReadingBooks:
    deliveries: dict[tuple[str, str], int] = {}
    conflicts: dict[tuple[str, str], int] = {}
    conflicting_entities = platform.store.observation_conflicts(tenant)
    for (entity_id, observed_at), count in platform.observation_counts(tenant).items():
        parts = entity_id.split(":")
        if len(parts) < 4 or parts[2] == "Device":
            continue
        reading = (parts[3], observed_at)
        deliveries[reading] = max(deliveries.get(reading, 0), count)
        conflicted = conflicting_entities.get((entity_id, observed_at), 0)
        conflicts[reading] = max(conflicts.get(reading, 0), conflicted)
    redelivered = sum(1 for reading, count in deliveries.items() if count - conflicts[reading] > 1)
    return ReadingBooks(len(deliveries), redelivered, sum(1 for n in conflicts.values() if n))
