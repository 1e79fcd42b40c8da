"""The HTTP API against a running daemon: reads, metrics, admin actions behind the bearer token, exports."""

from __future__ import annotations

import json

import httpx
import pytest
from api_support import TOKEN, birth, data, node_id, wait_for
from prometheus_client.parser import text_string_to_metric_families

from gateway.api.errors import Unauthorized
from gateway.client import ApiClient
from gateway.errors import InvalidInput, NotFound

DOCUMENTED = {
    "reverbere_messages_ingested",
    "reverbere_messages_rejected",
    "reverbere_duplicates",
    "reverbere_outbox_depth",
    "reverbere_outbox_oldest_age_seconds",
    "reverbere_forwarded",
    "reverbere_dropped",
    "reverbere_devices",
}


def _feed(gateway, publisher, count=2, data_per_node=3):
    nodes = [node_id(i) for i in range(count)]
    for node in nodes:
        publisher.publish("rvb/v1/%s/%s/birth" % (gateway.site, node), birth(node))
        for seq in range(data_per_node):
            publisher.publish("rvb/v1/%s/%s/data" % (gateway.site, node), data(1, seq))
    client = ApiClient(gateway.url)
    wait_for(
        lambda: (
            len(client.devices(site=gateway.site)) == count
            and all(d["seq"]["received"] == data_per_node for d in client.devices())
        ),
        what="ingest",
    )
    return client, nodes


def test_reads_and_history(gateway, publisher):
    client, nodes = _feed(gateway, publisher)
    assert client.health()["status"] == "ok"
    listed = client.devices(state="pending")
    assert [d["id"] for d in listed] == sorted(nodes)
    assert client.devices(state="active") == []
    assert client.devices(site="elsewhere") == []
    record = client.device(nodes[0])
    assert record["role"] == "sensor" and record["boot"] == 1 and record["seq"]["received"] == 3
    assert client.history(nodes[0])[0]["event"] == "registered"
    with pytest.raises(NotFound):
        client.device("ffffffffffff")
    with pytest.raises(InvalidInput):
        client.devices(state="lost")


def test_metrics_parse_and_hold_documented_names(gateway, publisher):
    client, _ = _feed(gateway, publisher)
    families = {family.name: family for family in text_string_to_metric_families(client.metrics_text())}
    assert DOCUMENTED <= set(families)
    ingested = families["reverbere_messages_ingested"].samples
    assert sum(s.value for s in ingested if s.name.endswith("_total")) >= 8  # 2 births + 6 data
    pending = [s for s in families["reverbere_devices"].samples if s.labels.get("state") == "pending"]
    assert pending and pending[0].value == 2


def test_admin_actions_need_the_token(gateway, publisher):
    _, nodes = _feed(gateway, publisher)
    response = httpx.post(gateway.url + "/api/v1/devices/%s/approve" % nodes[0])
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    with pytest.raises(Unauthorized):
        ApiClient(gateway.url, token="wrong").approve(nodes[0])
    assert ApiClient(gateway.url, token="").device(nodes[0])["state"] == "pending"
    admin = ApiClient(gateway.url, token=TOKEN)
    assert admin.approve(nodes[0])["state"] == "active"
    retired = admin.retire(nodes[1])
    assert retired["device"]["state"] == "retired"
    edited = admin.edit(nodes[0], location=[3.06, 50.63], asset="pole-17")
    assert edited["location"] == [3.06, 50.63] and edited["asset"] == "pole-17"
    with pytest.raises(InvalidInput):
        admin.edit(nodes[0], colour="red")
    events = [event["event"] for event in admin.history(nodes[0])]
    assert events.count("admin") == 2


def test_import_and_exports(gateway):
    admin = ApiClient(gateway.url, token=TOKEN)
    csv_text = "id,site,lon,lat,asset,state\n" + "".join(
        "%s,%s,3.0%d,50.6%d,pole-%d,active\n" % (node_id(100 + i), gateway.site, i, i, i) for i in range(3)
    )
    assert admin.import_csv(csv_text)["imported"] == 3
    with pytest.raises(InvalidInput):
        admin.import_csv("id,site,lon\nBAD ID,x,1\n")
    collection = json.loads(admin.export("geojson"))
    assert collection["type"] == "FeatureCollection"
    assert sorted(f["id"] for f in collection["features"]) == [node_id(100 + i) for i in range(3)]
    assert collection["features"][0]["geometry"]["type"] == "Point"
    csv_out = admin.export("csv").splitlines()
    assert csv_out[0].startswith("id,site,lon,lat") and len(csv_out) == 4
    entities = json.loads(admin.export("ngsi-ld"))
    assert {e["type"] for e in entities} == {"Device"} and len(entities) == 3
    figures = admin.report()
    assert figures["devices"] == 3 and figures["by_state"] == {"active": 3} and len(figures["positions"]) == 3


def test_unknown_route_and_method(gateway):
    assert httpx.get(gateway.url + "/api/v2/nothing").status_code == 404
    assert httpx.delete(gateway.url + "/api/v1/devices").status_code == 404
    assert (
        httpx.post(
            gateway.url + "/api/v1/devices/%s/command" % node_id(1),
            headers={"Authorization": "Bearer " + TOKEN},
            content=b"{not json",
        ).status_code
        == 400
    )
