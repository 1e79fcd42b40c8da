"""MQTT bridge forwarder against the real Mosquitto: QoS 1, PUBACK before done, unacked kept for retry."""

import json
import queue
import signal
import socket
import subprocess
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from gateway.forwarders.base import Envelope, from_url
from gateway.forwarders.mqtt_bridge import MqttBridgeForwarder

pytestmark = pytest.mark.broker

NODE = "a4cf12f00d01"
T0 = 1_763_765_000.0


def observation(node=NODE, **values):
    values = values or {"temp": 12.5}
    return {"node_id": node, "site": "lille-fives", "role": "sensor", "time": T0, "received": T0,
            "records": [{"n": n, "v": v, "t": T0} for n, v in values.items()],
            "device": {"location": [3.05, 50.63]}}


class Listener:
    """A platform-side subscriber to everything under a prefix."""

    def __init__(self, port, prefix):
        self.messages: queue.Queue = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        subscribed = queue.Queue()
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, json.loads(m.payload), m.qos))
        self.client.on_subscribe = lambda *a: subscribed.put(True)
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"{prefix}/#", qos=1)
        self.client.loop_start()
        subscribed.get(timeout=5)

    def take(self, count, timeout=5.0):
        return [self.messages.get(timeout=timeout) for _ in range(count)]

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def prefix():
    return f"test-{uuid.uuid4().hex[:8]}/ngsi-ld"


def test_entities_are_published_on_type_and_id_topics_and_acked(prefix):
    listener = Listener(1883, prefix)
    bridge = from_url(f"mqtt://127.0.0.1:1883/{prefix}")
    try:
        assert bridge.name == "mqtt"
        result = bridge.send([Envelope(1, "observation", observation(temp=12.5, pm25=3.0)),
                              Envelope(2, "observation", observation("bbbbbbbbbbbb")),
                              Envelope(3, "observation", {"records": []})])
        assert result.done == [1, 2] and result.rejected == {3: "mapping"} and result.retry == []
        received = {topic: (body, qos) for topic, body, qos in listener.take(3)}
        weather = f"{prefix}/WeatherObserved/urn:ngsi-ld:WeatherObserved:{NODE}"
        assert set(received) == {weather, f"{prefix}/AirQualityObserved/urn:ngsi-ld:AirQualityObserved:{NODE}",
                                 f"{prefix}/WeatherObserved/urn:ngsi-ld:WeatherObserved:bbbbbbbbbbbb"}
        body, qos = received[weather]
        assert qos == 1 and body["temperature"]["value"] == 12.5 and body["temperature"]["type"] == "Property"
    finally:
        bridge.close()
        listener.close()


def test_key_values_representation(prefix):
    listener = Listener(1883, prefix)
    bridge = from_url(f"mqtt://127.0.0.1:1883/{prefix}", representation="keyValues")
    try:
        assert bridge.send([Envelope(1, "observation", observation())]).done == [1]
        [(_topic, body, _qos)] = listener.take(1)
        assert body["temperature"] == 12.5 and body["refDevice"] == f"urn:ngsi-ld:Device:{NODE}"
    finally:
        bridge.close()
        listener.close()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_broker(tmp_path, port):
    conf = tmp_path / f"mosquitto-{port}.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return broker
        except OSError:
            time.sleep(0.05)
    broker.kill()
    raise RuntimeError("mosquitto did not start")


def send_until_done(bridge, batch, seconds=10.0):
    """paho connects and reconnects by itself (1-30 s backoff): retry as the outbox would, without backoff."""
    deadline = time.monotonic() + seconds
    result = bridge.send(batch)
    while result.retry and time.monotonic() < deadline:
        result = bridge.send(batch)
    return result


def test_broker_down_keeps_items_for_retry_and_delivers_after_it_returns(tmp_path, prefix):
    port = free_port()
    broker = start_broker(tmp_path, port)
    bridge = MqttBridgeForwarder("127.0.0.1", port, prefix, ack_timeout_s=2.0, connect_timeout_s=1.0)
    try:
        assert send_until_done(bridge, [Envelope(1, "observation", observation())]).done == [1]
        broker.terminate()
        broker.wait(timeout=5)
        time.sleep(0.2)
        down = bridge.send([Envelope(2, "observation", observation()), Envelope(3, "observation", observation())])
        assert down.retry == [2, 3] and down.done == []
        broker = start_broker(tmp_path, port)
        listener = Listener(port, prefix)
        try:
            assert send_until_done(bridge, [Envelope(2, "observation", observation())]).done == [2]
            [(topic, _body, qos)] = listener.take(1)
            assert topic.endswith(f"urn:ngsi-ld:WeatherObserved:{NODE}") and qos == 1
        finally:
            listener.close()
    finally:
        bridge.close()
        broker.terminate()
        broker.wait(timeout=5)


def test_items_without_puback_in_time_are_kept_for_retry(tmp_path, prefix):
    port = free_port()
    broker = start_broker(tmp_path, port)
    bridge = MqttBridgeForwarder("127.0.0.1", port, prefix, ack_timeout_s=0.5, connect_timeout_s=5.0)
    try:
        assert send_until_done(bridge, [Envelope(1, "observation", observation())]).done == [1]
        broker.send_signal(signal.SIGSTOP)  # connected but silent: the PUBACKs do not come
        try:
            stalled = bridge.send([Envelope(2, "observation", observation()), Envelope(3, "observation", observation())])
        finally:
            broker.send_signal(signal.SIGCONT)
        assert stalled.retry == [2, 3] and stalled.done == []
        assert send_until_done(bridge, [Envelope(2, "observation", observation())]).done == [2]
    finally:
        bridge.close()
        broker.terminate()
        broker.wait(timeout=5)
