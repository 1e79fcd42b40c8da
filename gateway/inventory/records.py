"""Device records: the columns of the `devices` table and their JSON form (DESIGN.md §6).

`to_json` is the record every export and the "device" outbox envelope use (the NGSI-LD Device mapping
reads it).
"""

from __future__ import annotations

import json
from typing import Any

STATES = ("pending", "active", "retired")

JSON_COLUMNS = ("hw", "caps", "networks", "health", "lifi")

# Columns the ingest path owns: they follow what nodes send and never overwrite operator edits.
INGEST_COLUMNS = (
    "topic_site",
    "role",
    "board",
    "hw",
    "fw",
    "cfg",
    "caps",
    "networks",
    "liveness",
    "first_seen",
    "last_seen",
    "boot",
    "born",
    "next_seq",
    "buffered",
    "dropped",
    "period",
    "received",
    "duplicates",
    "gaps",
    "health",
    "lifi",
    "reset_cause",
    "safe",
    "last_rebirth",
)
# The ingest columns that change with every message, written on their own between full writes.
STATS_COLUMNS = (
    "last_seen",
    "liveness",
    "received",
    "duplicates",
    "gaps",
    "next_seq",
    "buffered",
    "dropped",
    "period",
    "topic_site",
)
# Columns the operator owns (edits, approval, CSV import).
ADMIN_COLUMNS = ("site", "lon", "lat", "asset", "operator", "install_date", "state")
COLUMNS = ("id",) + ADMIN_COLUMNS + INGEST_COLUMNS + ("created",)
EDITABLE = ("location", "asset", "site", "operator", "install_date")


def new_row(node_id: str, site: str, state: str, now: float) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        id=node_id,
        site=site,
        topic_site=site,
        state=state,
        liveness="offline",
        born=0,
        buffered=0,
        dropped=0,
        received=0,
        duplicates=0,
        gaps=0,
        safe=0,
        created=now,
        hw={},
        caps=[],
        networks=[],
        health={},
        lifi=[],
    )
    return row


def encode(row: dict[str, Any], columns: tuple[str, ...]) -> tuple:
    """Row values for SQL parameters, JSON columns serialised."""
    return tuple(
        json.dumps(row[c], separators=(",", ":")) if c in JSON_COLUMNS and row[c] is not None else row[c]
        for c in columns
    )


def decode(values: tuple, columns: tuple[str, ...] = COLUMNS) -> dict[str, Any]:
    row = dict(zip(columns, values, strict=True))
    for column in JSON_COLUMNS:
        if column in row and isinstance(row[column], str):
            row[column] = json.loads(row[column])
    return row


def location(row: dict[str, Any]) -> list[float] | None:
    return [row["lon"], row["lat"]] if row["lon"] is not None and row["lat"] is not None else None


def to_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "site": row["site"],
        "role": row["role"],
        "board": row["board"],
        "hw": row["hw"] or {},
        "fw": row["fw"],
        "cfg": row["cfg"],
        "caps": row["caps"] or [],
        "networks": row["networks"] or [],
        "location": location(row),
        "asset": row["asset"],
        "operator": row["operator"],
        "install_date": row["install_date"],
        "state": row["state"],
        "liveness": row["liveness"],
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
        "boot": row["boot"],
        "seq": {
            "next": row["next_seq"],
            "received": row["received"],
            "duplicates": row["duplicates"],
            "gaps": row["gaps"],
            "buffered": row["buffered"],
            "dropped": row["dropped"],
        },
        "period": row["period"],
        "health": row["health"] or {},
        "reset": row["reset_cause"],
        "safe": bool(row["safe"]),
        "lifi": row["lifi"] or [],
    }


def device_context(row: dict[str, Any]) -> dict[str, Any]:
    """The part of a device record an observation carries north."""
    return {
        "location": location(row),
        "asset": row["asset"],
        "operator": row["operator"],
        "site": row["site"],
    }
