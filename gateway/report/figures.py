"""Figures of the inventory report, computed from device rows alone (a pure core; the store only lists rows).

- counts by role, site, administrative state, liveness and measured quantity;
- growth: replaying the lifecycle history (registrations, imports, approvals, retirements), the devices
  known at the end of each day and how many were pending, active and retired then;
- availability: share of approved devices online now, per site;
- data completeness: data messages received against those expected from the reporting period over the time
  each device has been heard (first to last seen); a device whose period is unknown is left out;
- positions: located devices as [lon, lat] with site and role.
"""

from __future__ import annotations

import datetime
from collections import Counter
from typing import Any

STATES = ("pending", "active", "retired")


def _day(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d")


def expected_messages(row: dict[str, Any]) -> float | None:
    """Data messages a device should have sent between first and last seen, from its reporting period."""
    period = row.get("period") or _caps_period(row.get("caps"))
    if not period or row.get("first_seen") is None or row.get("last_seen") is None:
        return None
    return (row["last_seen"] - row["first_seen"]) / period + 1


def _caps_period(caps: Any) -> float | None:
    periods = [cap[2] for cap in caps or [] if isinstance(cap, list) and len(cap) > 2 and cap[2]]
    return min(periods) if periods else None


def growth(rows: list[dict[str, Any]], events: list[tuple[str, float, str | None]]) -> list[dict[str, Any]]:
    """Counts by state at the end of each day with events (node, at, state entered or None), replayed in
    order; a device with no event (history pruned) counts from its record's creation in its current state."""
    with_events = {node for node, _, _ in events}
    timeline = [(at, node, state) for node, at, state in events] + [
        (row["created"], row["id"], row["state"])
        for row in rows
        if row.get("created") is not None and row["id"] not in with_events
    ]
    states: dict[str, str] = {}
    counts: Counter[str] = Counter()
    series: list[dict[str, Any]] = []
    for at, node, state in sorted(timeline, key=lambda item: item[0]):
        if not series or series[-1]["day"] != _day(at):
            series.append({"day": _day(at)})
        previous = states.get(node)
        current = state or previous or "pending"
        if previous is not None:
            counts[previous] -= 1
        counts[current] += 1
        states[node] = current
        series[-1].update(total=len(states), **{name: counts[name] for name in STATES})
    return series


def completeness(rows: list[dict[str, Any]]) -> dict[str, Any]:
    per_site: dict[str, list[float]] = {}
    devices = []
    for row in rows:
        expected = expected_messages(row)
        if expected is None:
            continue
        ratio = min(1.0, (row.get("received") or 0) / expected)
        per_site.setdefault(row["site"], [0.0, 0.0])
        per_site[row["site"]][0] += row.get("received") or 0
        per_site[row["site"]][1] += expected
        devices.append(
            {
                "id": row["id"],
                "received": row.get("received") or 0,
                "expected": round(expected, 1),
                "ratio": round(ratio, 4),
            }
        )
    received = sum(pair[0] for pair in per_site.values())
    expected_total = sum(pair[1] for pair in per_site.values())
    return {
        "ratio": round(min(1.0, received / expected_total), 4) if expected_total else None,
        "by_site": {site: round(min(1.0, r / e), 4) for site, (r, e) in sorted(per_site.items()) if e},
        "devices": devices,
    }


def availability(rows: list[dict[str, Any]]) -> dict[str, Any]:
    active = [row for row in rows if row.get("state") == "active"]
    by_site: dict[str, list[int]] = {}
    for row in active:
        pair = by_site.setdefault(row["site"], [0, 0])
        pair[0] += row.get("liveness") == "online"
        pair[1] += 1
    online = sum(pair[0] for pair in by_site.values())
    return {
        "active": len(active),
        "online": online,
        "ratio": round(online / len(active), 4) if active else None,
        "by_site": {site: round(on / n, 4) for site, (on, n) in sorted(by_site.items())},
    }


def compute(
    rows: list[dict[str, Any]], events: list[tuple[str, float, str | None]], now: float
) -> dict[str, Any]:
    """Every figure of the report from device rows and the state events of the lifecycle history."""
    quantities = Counter(
        cap[0] for row in rows for cap in row.get("caps") or [] if isinstance(cap, list) and cap
    )
    return {
        "generated_at": now,
        "devices": len(rows),
        "by_role": dict(sorted(Counter(row.get("role") or "unknown" for row in rows).items())),
        "by_site": dict(sorted(Counter(row["site"] for row in rows).items())),
        "by_state": dict(sorted(Counter(row["state"] for row in rows).items())),
        "by_liveness": dict(sorted(Counter(row.get("liveness") or "unknown" for row in rows).items())),
        "by_quantity": dict(sorted(quantities.items())),
        "growth": growth(rows, events),
        "availability": availability(rows),
        "completeness": completeness(rows),
        "positions": [
            {
                "id": row["id"],
                "site": row["site"],
                "role": row.get("role"),
                "lon": row["lon"],
                "lat": row["lat"],
            }
            for row in rows
            if row.get("lon") is not None and row.get("lat") is not None
        ],
    }
