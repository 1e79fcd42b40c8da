"""The API's routes over the PostgreSQL inventory (no sockets: `Api.handle` with requests built here)."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from api_support import TOKEN

from gateway.api.app import Api, Request
from gateway.counters import Counters
from gateway.inventory import open_store

PG = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_store():
    try:
        admin = psycopg.connect(PG, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        pytest.skip("PostgreSQL unreachable: %s" % exc)
    schema = "apit_" + uuid.uuid4().hex[:10]
    admin.execute("CREATE SCHEMA %s" % schema)
    store = open_store("%s?options=-csearch_path%%3D%s" % (PG, schema))
    yield store
    store.close()
    admin.execute("DROP SCHEMA %s CASCADE" % schema)
    admin.close()


def _call(api: Api, method: str, path: str, body: bytes = b"", token: str | None = TOKEN, **query: str):
    headers = {"authorization": "Bearer %s" % token} if token else {}
    response = api.handle(Request(method, path, query, headers, body))
    return response.status, response.body


@pytest.mark.postgres
def test_inventory_routes_on_postgresql(pg_store):
    api = Api(pg_store, Counters(), [], TOKEN)
    csv_text = b"id,site,lon,lat,state\na0b1c2000001,north,3.06,50.63,pending\na0b1c2000002,south,,,active\n"
    assert _call(api, "POST", "/api/v1/devices/import", csv_text, token=None)[0] == 401
    status, body = _call(api, "POST", "/api/v1/devices/import", csv_text)
    assert status == 200 and json.loads(body)["imported"] == 2
    assert _call(api, "POST", "/api/v1/devices/a0b1c2000001/approve")[0] == 200
    status, body = _call(api, "GET", "/api/v1/devices", state="active")
    assert sorted(d["id"] for d in json.loads(body)) == ["a0b1c2000001", "a0b1c2000002"]
    figures = json.loads(_call(api, "GET", "/api/v1/inventory/report")[1])
    assert figures["growth"][-1] == {
        "day": figures["growth"][-1]["day"],
        "total": 2,
        "pending": 0,
        "active": 2,
        "retired": 0,
    }
    status, body = _call(api, "GET", "/metrics")
    assert status == 200 and b'reverbere_devices{state="active"} 2.0' in body
    assert _call(api, "GET", "/api/v1/devices/a0b1c2000009")[0] == 404
