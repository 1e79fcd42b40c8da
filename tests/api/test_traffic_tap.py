"""The monitor ring: a lagging reader loses the oldest events, counted; malformed traffic is shown, not fatal."""

from __future__ import annotations

import threading

import cbor2
import paho.mqtt.client as mqtt

from gateway.api.traffic import TrafficTap
from gateway.config import GatewayConfig
from gateway.counters import Counters


def _message(topic: str, payload: bytes) -> mqtt.MQTTMessage:
    message = mqtt.MQTTMessage(topic=topic.encode())
    message.payload = payload
    return message


def test_lagging_reader_loses_the_oldest_and_counts_them():
    counters = Counters()
    tap = TrafficTap(GatewayConfig(), counters, ring_size=4)  # never started: no broker needed
    stream = tap.follow(None, None, threading.Event(), heartbeat_s=0.01)
    assert next(stream) is None  # idle
    for seq in range(10):
        tap._on_message(None, None, _message("rvb/v1/s/a0b1c2000001/data", cbor2.dumps({1: 1, 2: seq})))
    first = next(stream)
    assert first["payload"] == {"boot": 1, "seq": 6}
    assert counters.value("dropped_total", reason="monitor-lagging") == 6


def test_malformed_traffic_is_described_not_fatal():
    tap = TrafficTap(GatewayConfig(), Counters())
    stream = tap.follow(None, None, threading.Event(), heartbeat_s=0.01)
    assert next(stream) is None
    tap._on_message(None, None, _message("rvb/v1/s/a0b1c2000001/ack", cbor2.dumps({40: [1], 43: "ok"})))
    tap._on_message(None, None, _message("rvb/v1/s/a0b1c2000001/data", b"\xff\x00"))
    tap._on_message(None, None, _message("not/a/contract/topic", b""))
    events = [next(stream), next(stream), next(stream)]
    assert events[0]["payload"]["id"] == [1]
    assert events[1]["error"].startswith("bad-cbor")
    assert events[2]["error"].startswith("bad-topic")
