"""HTTP API benchmark: response times of the inventory endpoints with a large inventory, and the RSS.

Figures (`--json` prints one JSON object): `devices`, `list_ms` (GET /api/v1/devices, every device),
`device_ms` (one record, median of 200), `metrics_ms`, `report_json_ms`, `report_html_ms`,
`export_geojson_ms`, `rss_mb` (this process: store, API server and the responses built).
The inventory is SQLite in a scratch directory, filled by the CSV import path.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import httpx  # noqa: E402

from gateway.api.app import Api  # noqa: E402
from gateway.api.server import ApiServer  # noqa: E402
from gateway.counters import Counters  # noqa: E402
from gateway.inventory import csv_io, open_store  # noqa: E402


def fill(store, devices: int) -> None:
    lines = ["id,site,lon,lat,state"]
    for index in range(devices):
        lines.append(
            "%012x,site-%d,%.5f,%.5f,%s"
            % (
                0xA0B1C2000000 + index,
                index % 12,
                3.0 + (index % 100) / 1000,
                50.6 + index // 100 / 1000,
                "active" if index % 5 else "pending",
            )
        )
    csv_io.import_csv(store, "\n".join(lines) + "\n")


def timed(client: httpx.Client, path: str, repeat: int = 1) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        response.raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store("sqlite:///%s/inventory.db" % tmp)
        fill(store, args.devices)
        server = ApiServer(Api(store, Counters(), [], token=None), "127.0.0.1", 0).start()
        try:
            with httpx.Client(base_url=server.url, timeout=120) as client:
                figures = {
                    "devices": args.devices,
                    "list_ms": timed(client, "/api/v1/devices", 3),
                    "device_ms": timed(client, "/api/v1/devices/%012x" % 0xA0B1C2000001, 200),
                    "metrics_ms": timed(client, "/metrics", 20),
                    "report_json_ms": timed(client, "/api/v1/inventory/report", 3),
                    "report_html_ms": timed(client, "/api/v1/inventory/report.html", 1),
                    "export_geojson_ms": timed(client, "/api/v1/export/geojson", 3),
                    "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                }
        finally:
            server.close()
            store.close()
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print("%-18s %s" % (name, value))


if __name__ == "__main__":
    main()
