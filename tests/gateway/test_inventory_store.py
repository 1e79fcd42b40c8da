"""The inventory store on SQLite and PostgreSQL: operator actions, CSV/GeoJSON, outbox bound and cursors."""

from __future__ import annotations

import json

import pytest
from gw_support import NOW, store, store_url  # noqa: F401

from gateway.errors import InvalidInput, NotFound
from gateway.inventory import Batch, open_store
from gateway.inventory.csv_io import ImportErrors, export_csv, import_csv
from gateway.inventory.geojson import feature_collection

CSV = """id,site,lon,lat,asset,operator,install_date,state
lamp-0001,lille-fives,3.0877,50.6271,lamppost-17,city,2026-03-01,active
bench-0002,lille-fives,,,bench-4,,,
"""


def test_migrations_are_recorded_and_idempotent(store_url):  # noqa: F811
    first = open_store(store_url)
    version = first.schema_version()
    first.close()
    again = open_store(store_url)
    assert again.schema_version() == version == 1
    again.close()


def test_csv_import_edit_approve_retire_and_exports(store):  # noqa: F811
    assert import_csv(store, CSV) == {"imported": 2, "errors": []}
    lamp = store.get_device("lamp-0001")
    assert (
        lamp["state"] == "active" and lamp["asset"] == "lamppost-17" and lamp["install_date"] == "2026-03-01"
    )
    assert store.get_device("bench-0002")["state"] == "pending"
    store.edit("bench-0002", location=[3.06, 50.63], operator="metropole", site="lille-centre")
    store.approve("bench-0002")
    retired, discarded = store.retire("lamp-0001")
    assert retired["state"] == "retired" and discarded == 0
    assert store.count_by("state") == {"active": 1, "retired": 1}
    rows = store.list_devices()
    exported = export_csv(rows)
    assert exported.splitlines()[0].startswith("id,site,lon,lat,asset,operator,install_date,state")
    assert "bench-0002,lille-centre,3.06,50.63,bench-4,metropole,,active" in exported
    geo = feature_collection(rows)
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 2
    assert geo["features"][0]["geometry"] == {"type": "Point", "coordinates": [3.06, 50.63]}
    assert [row["event"] for row in store.history("bench-0002")] == ["import", "admin", "admin"]
    with pytest.raises(NotFound):
        store.approve("nobody")
    with pytest.raises(InvalidInput):
        store.edit("bench-0002", state="active")


def test_csv_errors_are_reported_per_line_and_nothing_is_written(store):  # noqa: F811
    text = (
        CSV + "Bad_Id,lille-fives,,,,,,\nok-3,lille-fives,200,1,,,,\nok-4,lille-fives,,,,,2026-13-01,\n"
        "ok-5,lille-fives,,,,,,unknown\nlamp-0001,x,,,,,,\n"
    )
    with pytest.raises(ImportErrors) as caught:
        import_csv(store, text)
    assert [line for line, _ in caught.value.errors] == [4, 5, 6, 7, 8]
    assert "already on line 2" in caught.value.errors[-1][1]
    assert store.list_devices() == []
    assert import_csv(store, text, valid_only=True)["imported"] == 2


def _batch(n, size=100, start=0):
    return Batch(
        outbox=[
            ("observation", "n1", json.dumps({"seq": start + i, "pad": "x" * size}), NOW) for i in range(n)
        ]
    )


def test_outbox_bound_drops_the_oldest_and_counts(store):  # noqa: F811
    store.commit_batch(_batch(10), max_outbox_bytes=10**9, held_per_device=10)
    dropped = store.commit_batch(_batch(10, start=10), max_outbox_bytes=15 * 120, held_per_device=10)
    left = [json.loads(item.payload)["seq"] for item in store.fetch("f", 100)]
    assert dropped["outbox-full"] == 20 - len(left) and left == list(range(20 - len(left), 20))
    assert store.outbox_bytes <= 15 * 120


def test_cursor_stops_at_the_first_retry_and_skips_what_was_finished(store):  # noqa: F811
    store.commit_batch(_batch(6), max_outbox_bytes=10**9, held_per_device=10)
    ids = [item.id for item in store.fetch("a", 100)]
    store.record("a", [ids[0], ids[1], ids[3], ids[5]])
    assert [item.id for item in store.fetch("a", 100)] == [ids[2], ids[4]]
    store.record("a", [ids[2], ids[4]])
    assert store.fetch("a", 100) == []
    assert store.prune(["a", "b"]) == 0  # "b" has delivered nothing yet
    assert store.outbox_stats(["a", "b"])["depth"] == 6
    store.record("b", ids)
    assert store.prune(["a", "b"]) == 6 and store.outbox_bytes == 0
    assert store.outbox_stats(["a", "b"])["depth"] == 0


def test_held_observations_are_bounded_per_device(store):  # noqa: F811
    batch = Batch(held=[("observation", "p1", json.dumps({"seq": i}), NOW) for i in range(8)])
    assert store.commit_batch(batch, max_outbox_bytes=10**9, held_per_device=5) == {"held-full": 3}
