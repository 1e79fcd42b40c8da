"""The fleet's private Mosquitto books every client connection with its time, across a restart: the
scale benchmark's connect rate comes from there."""

import time

import paho.mqtt.client as mqtt
import pytest

from sim.broker import PrivateMosquitto, find_mosquitto

pytestmark = pytest.mark.broker


def _connect_once(broker: PrivateMosquitto, client_id: str) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.connect(broker.host, broker.port)
    client.loop_start()
    deadline = time.monotonic() + 5
    while not client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.02)
    client.disconnect()
    client.loop_stop()


def test_private_broker_lists_each_connection_with_its_time_across_a_restart():
    binary = find_mosquitto()
    if binary is None:
        pytest.skip("no mosquitto binary")
    broker = PrivateMosquitto(binary)
    try:
        before = int(time.time())
        _connect_once(broker, "node-001")
        broker.stop()
        broker.start()
        _connect_once(broker, "node-001")
        _connect_once(broker, "node-002")
        deadline = time.monotonic() + 5
        while len(broker.connects()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # the log is written as the broker goes
        connects = broker.connects()
    finally:
        broker.close()
    assert [client for _, client in connects] == ["node-001", "node-001", "node-002"]
    assert all(before <= stamp <= time.time() for stamp, _ in connects)
