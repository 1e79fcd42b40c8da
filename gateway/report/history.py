"""Read the administrative part of the lifecycle history (registrations, imports, approvals, retirements)."""

from __future__ import annotations

import json

from gateway.inventory import Store

STATE_EVENTS = ("registered", "import", "admin")


def state_events(store: Store) -> list[tuple[str, float, str | None]]:
    """(node, at, state it entered or None) in commit order; `admin` edits that keep the state give None."""
    with store.tx(write=False) as tx:
        rows = tx.all(
            "SELECT node_id, at, detail FROM lifecycle WHERE event IN (?, ?, ?) ORDER BY id", STATE_EVENTS
        )
    events = []
    for node, at, detail in rows:
        state = json.loads(detail).get("state") if detail else None
        events.append((node, float(at), state if isinstance(state, str) else None))
    return events
