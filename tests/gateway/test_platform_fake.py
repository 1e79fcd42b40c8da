"""The fake NGSI-LD platform: a real HTTP server validating requests against the OpenAPI file and entities
against Smart Data Models, storing them, counting observations and answering faults on demand."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.ngsi.context import CORE_CONTEXT, JSON, LD_JSON, request_headers, with_context
from gateway.ngsi.entities import device_entities, observation_entities
from sim.platform import FakePlatform, Fault
from sim.platform.validation import ApiValidator, HttpRequest, RequestInvalid

NODE = "a4cf12f00d01"
T0 = 1_763_765_000.0
UPSERT = "/ngsi-ld/v1/entityOperations/upsert"
REPO = Path(__file__).resolve().parents[2]


def weather(temp=12.5, t=T0, node=NODE):
    payload = {"node_id": node, "role": "sensor", "time": t, "received": t,
               "records": [{"n": "temp", "u": "Cel", "v": temp, "t": t}], "device": {"location": [3.05, 50.63]}}
    return observation_entities(payload)[0]


def luminaire_record():
    return {"id": NODE, "role": "luminaire", "caps": [["dim", "%", 60]], "location": [3.05, 50.63],
            "state": "active", "liveness": "online"}


@pytest.fixture(scope="module")
def running():
    with FakePlatform() as platform:
        yield platform


@pytest.fixture
def platform(running):
    running.reset()
    yield running
    running.reset()


def upsert(platform, entities, media=JSON, tenant=None, headers=None, params=None):
    body = with_context(entities) if media == LD_JSON else entities
    return httpx.post(platform.url + UPSERT, content=json.dumps(body),
                      headers={**request_headers(media, tenant), **(headers or {})}, params=params)


def test_valid_upsert_creates_then_updates(platform):
    created = upsert(platform, [weather()])
    assert created.status_code == 201 and created.json() == [f"urn:ngsi-ld:WeatherObserved:{NODE}"]
    again = upsert(platform, [weather(13.0, T0 + 60)])
    assert again.status_code == 204
    stored = platform.entity(f"urn:ngsi-ld:WeatherObserved:{NODE}")
    assert stored["temperature"]["value"] == 13.0


def test_entity_without_id_is_rejected_by_the_openapi_validator(platform):
    entity = weather()
    del entity["id"]
    answer = upsert(platform, [entity])
    assert answer.status_code == 400
    assert re.search(r"['\"]id['\"] is a required property", answer.json()["detail"])
    assert platform.stats()["rejections"] == {"api-request": 1}
    assert platform.entities() == []


def test_malformed_attribute_is_rejected_by_the_openapi_validator(platform):
    entity = weather()
    entity["temperature"]["observedAt"] = "yesterday"
    assert upsert(platform, [entity]).status_code == 400


def test_wrong_smart_data_model_field_fails_that_entity_only(platform):
    good, bad = weather(node="aaaaaaaaaaaa"), weather(node="bbbbbbbbbbbb")
    bad["relativeHumidity"] = {"type": "Property", "value": 55.0}  # percent where the model wants 0..1
    answer = upsert(platform, [good, bad])
    assert answer.status_code == 207
    report = answer.json()
    assert report["success"] == [good["id"]]
    [error] = report["errors"]
    assert error["entityId"] == bad["id"] and error["error"]["status"] == 400
    assert "relativeHumidity" in error["error"]["detail"]
    assert [e["id"] for e in platform.entities()] == [good["id"]]
    assert platform.stats()["rejections"] == {"sdm-schema": 1}


def test_context_rules(platform):
    assert upsert(platform, [weather()], media=LD_JSON).status_code == 201
    mixed = upsert(platform, [weather()], media=LD_JSON, headers={"Link": f"<{CORE_CONTEXT}>"})
    assert mixed.status_code == 400  # ld+json takes its @context from the body only
    in_json = httpx.post(platform.url + UPSERT, content=json.dumps(with_context([weather()])),
                         headers=request_headers(JSON, None))
    assert in_json.status_code == 400
    no_context = httpx.post(platform.url + UPSERT, content=json.dumps([weather()]),
                            headers={"Content-Type": LD_JSON})
    assert no_context.status_code == 400
    text = httpx.post(platform.url + UPSERT, content=b"[]", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415


def test_spec_repair_is_needed_for_multi_valued_relationships_and_keeps_rejecting_bad_requests():
    light = device_entities(luminaire_record())[1]
    assert isinstance(light["refDevice"], list)

    def request(entities):
        return HttpRequest("http://127.0.0.1:1026", "POST", UPSERT, {}, request_headers(JSON, None),
                           json.dumps(entities).encode(), JSON)

    with pytest.raises(RequestInvalid):
        ApiValidator(repair=False).validate(request([light]))
    repaired = ApiValidator()
    repaired.validate(request([light]))
    with pytest.raises(RequestInvalid, match="id"):
        repaired.validate(request([{k: v for k, v in light.items() if k != "id"}]))


def test_upsert_modes(platform):
    light = device_entities(luminaire_record())[1]
    upsert(platform, [light])
    dimmed = {"id": light["id"], "type": "Streetlight", "status": {"type": "Property", "value": "ok"},
              "location": light["location"], "illuminanceLevel": {"type": "Property", "value": 0.5}}
    assert upsert(platform, [dimmed], params={"options": "update"}).status_code == 204
    assert set(platform.entity(light["id"])) >= {"refDevice", "illuminanceLevel", "controllingMethod"}
    assert upsert(platform, [dimmed]).status_code == 204  # replace, the default
    assert "refDevice" not in platform.entity(light["id"])


def test_retrieve_and_query(platform):
    upsert(platform, [weather(), *device_entities(luminaire_record())])
    one = httpx.get(f"{platform.url}/ngsi-ld/v1/entities/urn:ngsi-ld:WeatherObserved:{NODE}")
    assert one.status_code == 200 and one.json()["temperature"]["value"] == 12.5
    kv = httpx.get(f"{platform.url}/ngsi-ld/v1/entities/urn:ngsi-ld:WeatherObserved:{NODE}",
                   params={"options": "keyValues"})
    assert kv.json()["temperature"] == 12.5
    devices = httpx.get(f"{platform.url}/ngsi-ld/v1/entities", params={"type": "Device"})
    assert [e["id"] for e in devices.json()] == [f"urn:ngsi-ld:Device:{NODE}"]
    missing = httpx.get(f"{platform.url}/ngsi-ld/v1/entities/urn:ngsi-ld:Device:nothere")
    assert missing.status_code == 404 and missing.json()["status"] == 404
    assert httpx.delete(f"{platform.url}/ngsi-ld/v1/entities/x").status_code == 501


def test_tenants_are_separate(platform):
    assert upsert(platform, [weather()], tenant="lille").status_code == 201
    assert platform.entities(tenant="lille") and not platform.entities()
    default = httpx.get(f"{platform.url}/ngsi-ld/v1/entities", params={"type": "WeatherObserved"})
    assert default.json() == []
    lille = httpx.get(f"{platform.url}/ngsi-ld/v1/entities", params={"type": "WeatherObserved"},
                      headers={"NGSILD-Tenant": "lille"})
    assert len(lille.json()) == 1 and lille.headers["NGSILD-Tenant"] == "lille"


def test_duplicate_observations_are_counted(platform):
    upsert(platform, [weather(12.5, T0)])
    upsert(platform, [weather(12.5, T0)])
    upsert(platform, [weather(13.0, T0 + 60)])
    counts = platform.observation_counts()
    entity_id = f"urn:ngsi-ld:WeatherObserved:{NODE}"
    assert counts[(entity_id, "2025-11-21T22:43:20.000Z")] == 2
    assert counts[(entity_id, "2025-11-21T22:44:20.000Z")] == 1
    stats = httpx.get(platform.url + "/_platform/stats").json()
    assert stats["observations"] == {"distinct": 2, "total": 3, "duplicates": 1}
    assert stats["duplicates"][0]["id"] == entity_id and stats["duplicates"][0]["count"] == 2


def test_faults_on_demand_through_the_control_endpoint(platform):
    target = weather(node="cccccccccccc")
    assert httpx.post(platform.url + "/_platform/faults", json={"status": 503, "count": 2}).status_code == 204
    assert upsert(platform, [target]).status_code == 503
    assert upsert(platform, [target]).status_code == 503
    assert upsert(platform, [target]).status_code == 201
    httpx.post(platform.url + "/_platform/faults", json={"entity_errors": {target["id"]: 500}})
    answer = upsert(platform, [target, weather()])
    assert answer.status_code == 207 and answer.json()["errors"][0]["error"]["status"] == 500
    httpx.post(platform.url + "/_platform/faults", json={"status": 500, "count": None})
    assert upsert(platform, [target]).status_code == 500 and upsert(platform, [target]).status_code == 500
    assert httpx.delete(platform.url + "/_platform/faults").status_code == 204
    assert upsert(platform, [target]).status_code == 204
    assert httpx.post(platform.url + "/_platform/faults", json={"colour": "red"}).status_code == 400


def test_slow_answer_times_out_a_client_and_still_commits_unless_told_not_to(platform):
    platform.inject(Fault(delay_s=0.5))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(platform.url + UPSERT, content=json.dumps([weather()]), headers=request_headers(JSON, None),
                   timeout=0.1)
    platform.inject(Fault(delay_s=0.2, commit=False))
    answer = upsert(platform, [weather(14.0, T0 + 60)])
    assert answer.status_code == 504
    # the first request still lands once its delay has passed
    deadline = time.monotonic() + 5
    while platform.entity(f"urn:ngsi-ld:WeatherObserved:{NODE}") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert platform.entity(f"urn:ngsi-ld:WeatherObserved:{NODE}")["temperature"]["value"] == 12.5


def test_received_requests_are_reported(platform):
    upsert(platform, [weather()], tenant="lille")
    [summary] = httpx.get(platform.url + "/_platform/received").json()
    assert summary["entity_ids"] == [f"urn:ngsi-ld:WeatherObserved:{NODE}"]
    assert summary["tenant"] == "lille" and summary["status"] == 201 and "json-ld#context" in summary["link"]


def test_stop_takes_the_platform_down_and_it_can_come_back_on_the_same_port():
    platform = FakePlatform().start()
    with httpx.Client() as client:  # a keep-alive connection must not outlive the platform
        assert client.post(platform.url + UPSERT, content=json.dumps([weather()]),
                           headers=request_headers(JSON, None)).status_code == 201
        platform.stop()
        with pytest.raises(httpx.TransportError):
            client.post(platform.url + UPSERT, content=json.dumps([weather()]), headers=request_headers(JSON, None))
        platform.start()
        try:
            assert client.get(f"{platform.url}/ngsi-ld/v1/entities/urn:ngsi-ld:WeatherObserved:{NODE}").status_code == 200
        finally:
            platform.stop()


def test_runs_as_a_module():
    process = subprocess.Popen([sys.executable, "-m", "sim.platform", "--port", "0"], cwd=REPO,
                               stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        address = json.loads(process.stdout.readline())
        answer = httpx.post(address["url"] + UPSERT, content=json.dumps([weather()]),
                            headers=request_headers(JSON, None))
        assert answer.status_code == 201
        assert address["forward_url"].startswith("ngsi-ld+http://127.0.0.1:")
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
    assert json.loads(process.stdout.readline())["upsert_requests"] == 1


def test_validation_can_be_sampled_or_turned_off_for_throughput_runs():
    anonymous = weather()
    del anonymous["dateObserved"]  # required by WeatherObserved
    with FakePlatform(validate_every=2) as sampled:
        assert upsert(sampled, [anonymous]).status_code == 207  # 1st request: checked
        assert upsert(sampled, [anonymous]).status_code == 201  # 2nd: let through unchecked
        assert upsert(sampled, [anonymous]).status_code == 207  # 3rd: checked
        assert sampled.stats()["counters"]["requests_validated"] == 2
    with FakePlatform(validate_every=0) as unchecked:
        assert unchecked.api is None and unchecked.schemas is None
        assert upsert(unchecked, [anonymous]).status_code == 201


def test_request_summaries_are_bounded_dropping_the_oldest_and_counting_them():
    with FakePlatform(validate_every=0, received_limit=2) as small:
        for n in (1, 2, 3):
            upsert(small, [weather(t=T0 + n)], tenant=f"t{n}")
        assert [r["tenant"] for r in small.received()] == ["t2", "t3"]
        assert small.stats()["received_dropped"] == 1
        assert small.stats()["observations"]["total"] == 3  # the counts themselves are not bounded


def test_every_request_is_checked_even_when_its_headers_were_seen_before():
    validator = ApiValidator()

    def request(entities, query=None):
        return HttpRequest("http://127.0.0.1:1026", "POST", UPSERT, query or {}, request_headers(JSON, None),
                           json.dumps(entities).encode(), JSON)

    validator.validate(request([weather()]))
    validator.validate(request([weather(), weather()]))  # the same headers and query: only the body is new
    with pytest.raises(RequestInvalid, match="id"):
        validator.validate(request([{k: v for k, v in weather().items() if k != "id"}]))
    with pytest.raises(RequestInvalid):
        validator.validate(request([weather()], {"options": ["sideways"]}))
    with pytest.raises(RequestInvalid):
        validator.validate(request([weather()], {"options": ["sideways"]}))  # a refusal is never remembered
