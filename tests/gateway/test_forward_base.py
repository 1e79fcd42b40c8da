"""The forwarder seam: one constructor for every destination URL."""

import dataclasses

import pytest

from gateway.errors import InvalidInput
from gateway.forwarders.base import Envelope, SendResult, from_url
from gateway.forwarders.jsonl import JsonlForwarder
from gateway.forwarders.mqtt_bridge import MqttBridgeForwarder
from gateway.forwarders.ngsi_ld import NgsiLdForwarder


def test_url_schemes_pick_their_forwarder(tmp_path):
    made = [from_url("ngsi-ld+http://127.0.0.1:1026"), from_url("ngsi-ld+https://platform.example"),
            from_url("mqtt://127.0.0.1:1883/city/ngsi-ld", connect_timeout_s=0.1),
            from_url((tmp_path / "north.jsonl").as_uri())]
    try:
        assert [type(f) for f in made] == [NgsiLdForwarder, NgsiLdForwarder, MqttBridgeForwarder, JsonlForwarder]
        assert [f.name for f in made] == ["ngsi-ld", "ngsi-ld", "mqtt", "file"]
        assert made[1].upsert_url == "https://platform.example/ngsi-ld/v1/entityOperations/upsert"
        assert made[2].topic({"type": "Device", "id": "urn:ngsi-ld:Device:x"}) == \
            "city/ngsi-ld/Device/urn:ngsi-ld:Device:x"
    finally:
        for forwarder in made:
            forwarder.close()


@pytest.mark.parametrize("url", ["http://127.0.0.1:1026", "ftp://x/y", "ngsi-ld+http://", "mqtt:///prefix"])
def test_unusable_urls_are_refused(url):
    with pytest.raises(InvalidInput):
        from_url(url)


def test_envelope_is_immutable_and_results_start_empty():
    envelope = Envelope(1, "observation", {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        envelope.id = 2
    assert SendResult() == SendResult(done=[], retry=[], rejected={})
