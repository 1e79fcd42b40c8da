"""Helpers of the API tests: contract messages, a stand-in publisher, polling."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable

import cbor2
import paho.mqtt.client as mqtt

from protocols import messages, senml

TOKEN = "test-token-" + uuid.uuid4().hex
NOW = int(time.time())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout_s: float = 30.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


def node_id(index: int) -> str:
    return "c0ffee%06x" % index


def birth(node: str, boot: int = 1, role: str = "sensor") -> bytes:
    hw = {"chip": "esp32", "mac": ":".join(node[i : i + 2] for i in range(0, 12, 2))}
    return cbor2.dumps(
        messages.birth(
            boot,
            0,
            NOW,
            role,
            "esp32-devkitc-sensor",
            hw,
            "0.1.0",
            [["temp", "Cel", 60], ["hum", "%RH", 60]],
            b"\1" * 8,
            "power-on",
            False,
            0,
            0,
        )
    )


def data(boot: int, seq: int) -> bytes:
    pack = [senml.record("temp", 21.5, "Cel"), senml.record("hum", 40.0, "%RH")]
    return cbor2.dumps(messages.data(boot, seq, NOW + seq, pack))


class Publisher:
    """A plain MQTT client on the local broker (stands in for nodes)."""

    def __init__(self) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="t-pub-" + uuid.uuid4().hex[:8], protocol=mqtt.MQTTv5
        )
        self.client.connect("127.0.0.1", 1883)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(20)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
