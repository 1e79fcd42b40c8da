"""The NGSI-LD forwarder against the fake platform answering 201/204/207/400/401/5xx/timeouts on demand."""

import socket
import time

import pytest

from gateway.errors import InvalidInput
from gateway.forwarders.base import Envelope, from_url
from gateway.forwarders.ngsi_ld import NgsiLdForwarder
from gateway.ngsi.context import LD_JSON
from sim.platform import FakePlatform, Fault

NODE = "a4cf12f00d01"
T0 = 1_763_765_000.0
LOCATION = [3.0573, 50.6292]


def observation(node=NODE, t=T0, site="lille-fives", **values):
    values = values or {"temp": 12.5}
    return {"node_id": node, "site": site, "role": "sensor", "board": "b", "boot": 1, "seq": 0, "time": t,
            "received": t, "records": [{"n": n, "v": v, "t": t} for n, v in values.items()],
            "device": {"location": LOCATION, "site": site}}


def weather_id(node=NODE):
    return f"urn:ngsi-ld:WeatherObserved:{node}"


@pytest.fixture(scope="module")
def running():
    with FakePlatform() as platform:
        yield platform


@pytest.fixture
def platform(running):
    running.reset()
    yield running
    running.reset()


@pytest.fixture
def forwarder(platform):
    forwarder = from_url(platform.forward_url, timeout_s=10.0)
    yield forwarder
    forwarder.close()


def test_201_then_204_are_done_and_stored(platform, forwarder):
    first = forwarder.send([Envelope(1, "observation", observation()),
                            Envelope(2, "observation", observation(t=T0 + 60, temp=13.0))])
    assert (first.done, first.retry, first.rejected) == ([1, 2], [], {})
    assert forwarder.stats["http_201"] == 1 and forwarder.stats["http_204"] == 1  # same entity: two requests
    again = forwarder.send([Envelope(3, "observation", observation(t=T0 + 120, temp=14.0))])
    assert again.done == [3]
    assert platform.entity(weather_id())["temperature"]["value"] == 14.0
    assert len(platform.observation_counts()) == 3


def test_observation_mapping_to_several_entities_is_done_only_when_all_are_accepted(platform, forwarder):
    payload = observation(temp=12.5, pm25=4.0, noise=50.0)  # WeatherObserved, AirQualityObserved, NoiseLevel
    platform.fail_entities({f"urn:ngsi-ld:NoiseLevelObserved:{NODE}": 503})
    result = forwarder.send([Envelope(1, "observation", payload), Envelope(2, "observation", observation("bbbbbbbbbbbb"))])
    assert result.done == [2] and result.retry == [1] and result.rejected == {}
    assert platform.entity(f"urn:ngsi-ld:AirQualityObserved:{NODE}") is not None
    assert forwarder.send([Envelope(1, "observation", payload)]).done == [1]


def test_207_with_a_4xx_problem_rejects_only_that_item(platform, forwarder):
    platform.fail_entities({weather_id("bbbbbbbbbbbb"): 400})
    result = forwarder.send([Envelope(1, "observation", observation()),
                             Envelope(2, "observation", observation("bbbbbbbbbbbb")),
                             Envelope(3, "observation", observation("cccccccccccc"))])
    assert result.done == [1, 3] and result.rejected == {2: "entity_400"} and result.retry == []


def test_207_from_the_platforms_own_schema_check_rejects_the_bad_entity(platform, forwarder):
    device = {"id": NODE, "role": "sensor", "caps": [["temp", "Cel", 60]], "state": "active",
              "install_date": "2026-10-01"}
    result = forwarder.send([Envelope(7, "device", device)])
    assert result.done == [7]
    assert platform.entity(f"urn:ngsi-ld:Device:{NODE}")["controlledProperty"]["value"] == ["temperature"]


def test_later_updates_of_a_failed_entity_are_held_back_to_keep_order(platform, forwarder):
    platform.fail_entities({weather_id(): 500})
    result = forwarder.send([Envelope(1, "observation", observation(t=T0)),
                             Envelope(2, "observation", observation("bbbbbbbbbbbb", t=T0)),
                             Envelope(3, "observation", observation(t=T0 + 60, temp=13.0))])
    assert result.done == [2] and result.retry == [1, 3]
    assert platform.entity(weather_id()) is None  # the later reading did not overtake the earlier one
    retried = forwarder.send([Envelope(1, "observation", observation(t=T0)),
                              Envelope(3, "observation", observation(t=T0 + 60, temp=13.0))])
    assert retried.done == [1, 3] and platform.entity(weather_id())["temperature"]["value"] == 13.0


def test_400_for_the_whole_batch_is_bisected_down_to_the_bad_item(platform, forwarder):
    batch = [Envelope(i, "observation", observation(f"{i:012x}")) for i in range(1, 7)]
    platform.inject(Fault(status=400, entity_errors={weather_id(f"{3:012x}"): 400}, count=None))
    result = forwarder.send(batch)
    assert result.done == [1, 2, 4, 5, 6] and result.rejected == {3: "http_400"} and result.retry == []
    assert forwarder.stats["batches_split"] == 3  # [1..6] -> [1,2,3] -> [2,3] -> [3]
    assert len(platform.entities()) == 5


@pytest.mark.parametrize("status", [500, 502, 503, 401, 403, 429])
def test_transient_statuses_keep_everything_for_retry_in_order(platform, forwarder, status, caplog):
    platform.fail_next(status)
    batch = [Envelope(i, "observation", observation(f"{i:012x}")) for i in (5, 6, 7)]
    result = forwarder.send(batch)
    assert result.retry == [5, 6, 7] and result.done == [] and result.rejected == {}
    assert platform.entities() == []
    assert str(status) in caplog.text
    assert forwarder.send(batch).done == [5, 6, 7]


def test_a_whole_failure_stops_the_rest_of_the_batch(platform):
    forwarder = NgsiLdForwarder(platform.url, max_entities=2)
    platform.fail_next(503)
    result = forwarder.send([Envelope(i, "observation", observation(f"{i:012x}")) for i in range(1, 7)])
    assert result.retry == [1, 2, 3, 4, 5, 6]
    assert platform.stats()["counters"]["upsert_requests"] == 1  # the next chunks were not even tried
    forwarder.close()


def test_timeout_is_retried_and_the_late_commit_shows_as_a_duplicate(platform, forwarder):
    impatient = from_url(platform.forward_url, timeout_s=0.2)
    platform.inject(Fault(delay_s=1.0))
    assert impatient.send([Envelope(1, "observation", observation())]).retry == [1]
    assert impatient.stats["failed_timeout"] == 1
    impatient.close()
    deadline = time.monotonic() + 5
    while platform.entity(weather_id()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert forwarder.send([Envelope(1, "observation", observation())]).done == [1]
    assert list(platform.observation_counts().values()) == [2]  # at least once: visible, not silent


def test_unreachable_platform_is_retried():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    forwarder = from_url(f"ngsi-ld+http://127.0.0.1:{port}", timeout_s=1.0)
    assert forwarder.send([Envelope(1, "observation", observation())]).retry == [1]
    assert forwarder.stats["failed_connection"] == 1
    forwarder.close()


def test_unmappable_items_are_rejected_without_blocking_the_others(platform, forwarder):
    result = forwarder.send([Envelope(1, "observation", {"records": []}), Envelope(2, "observation", observation()),
                             Envelope(3, "inventory-diff", {})])
    assert result.done == [2] and result.rejected == {1: "mapping", 3: "mapping"}


def test_tenant_per_site_and_ld_json_bodies(platform):
    forwarder = from_url(platform.forward_url + "?tenant=city-{site}", media_type=LD_JSON)
    result = forwarder.send([Envelope(1, "observation", observation(site="lille-fives")),
                             Envelope(2, "observation", observation("bbbbbbbbbbbb", site="roubaix"))])
    assert result.done == [1, 2]
    assert [e["id"] for e in platform.entities(tenant="city-lille-fives")] == [weather_id()]
    assert [e["id"] for e in platform.entities(tenant="city-roubaix")] == [weather_id("bbbbbbbbbbbb")]
    assert {r["content_type"] for r in platform.received()} == {LD_JSON}
    forwarder.close()


def test_url_options():
    forwarder = from_url("ngsi-ld+https://platform.example:8443/broker?tenant=t&upsert_mode=replace&max_entities=5")
    assert forwarder.upsert_url == "https://platform.example:8443/broker/ngsi-ld/v1/entityOperations/upsert"
    assert (forwarder.tenant, forwarder.upsert_mode, forwarder.max_entities) == ("t", "replace", 5)
    forwarder.close()
    with pytest.raises(InvalidInput):
        from_url("ngsi-ld+http://h:1?colour=red")
    with pytest.raises(InvalidInput):
        from_url("ngsi-ld+http://h:1", media_type="text/plain")
