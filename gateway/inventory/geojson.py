"""GeoJSON export (RFC 7946) of the inventory for the city's GIS: one Point feature per located device."""

from __future__ import annotations

from typing import Any

from gateway.inventory.records import location


def feature_collection(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Devices without a location are left out: a GIS layer cannot place them."""
    features = []
    for row in rows:
        point = location(row)
        if point is None:
            continue
        features.append(
            {
                "type": "Feature",
                "id": row["id"],
                "geometry": {"type": "Point", "coordinates": point},
                "properties": {
                    "id": row["id"],
                    "site": row["site"],
                    "role": row["role"],
                    "board": row["board"],
                    "state": row["state"],
                    "liveness": row["liveness"],
                    "asset": row["asset"],
                    "operator": row["operator"],
                    "install_date": row["install_date"],
                    "last_seen": row["last_seen"],
                    "quantities": [cap[0] for cap in row["caps"] or []],
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
