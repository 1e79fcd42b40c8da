"""Deploy targets for the field tests: a simulated board on a pty (sim/serial_board.py) and a test
double of the serial link that corrupts what is written, behind pyserial's interface."""

import json
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import serial

from boards.loader import firmware_config, load_named
from gateway.field.deploy import make_plan
from sim.serial_board import MAIN_PY, SerialBoard, prepare_blank

BOARD = "esp32-devkitc-sensor"
# The access points around a simulated board waiting for Improv: [ssid, password, rssi].
ACCESS_POINTS = [["rvb-field", "street-light-7", -48], ["cafe", "", -81]]


def blank_board(flash: Path) -> SerialBoard:
    """A freshly flashed board; the simulator's wiring (which device model sits on which bus) stands in
    for the soldered sensors and is not part of a deploy."""
    return SerialBoard(prepare_blank(flash, BOARD)).start()


def waiting_for_improv(flash: Path, networks=ACCESS_POINTS) -> SerialBoard:
    """A board as `reverbere deploy` leaves it without network settings (board and role sections, the root
    main.py; the firmware itself comes from the simulator's bundle): it boots into the Improv responder on
    its pty. Its radio joins only the ``networks`` in range."""
    prepare_blank(flash, BOARD)
    (flash / "config.json").write_text(json.dumps(firmware_config(load_named(BOARD))))
    (flash / "main.py").write_text(MAIN_PY)
    (flash / "wifi.json").write_text(json.dumps(networks))
    return SerialBoard(flash).start()


def online_plan(site: str, node_id: str, port: int = 1883, **kw):
    """The sensor role with network settings, so the node goes online at once after the reset."""
    settings = {"wifi": {"ssid": "street", "password": "lamp-post"},
                "mqtt": {"host": "127.0.0.1", "port": port, "keepalive": 30},
                "ntp": {"host": None}, "startup_delay_ms": 0, "period": 1}
    return make_plan(load_named(BOARD), device_id=node_id, site=site, settings=settings, **kw)


def unique_site() -> str:
    return "f2-" + uuid.uuid4().hex[:8]


class Births:
    """Subscribed to the births of one site on the local Mosquitto."""

    def __init__(self, site: str, port: int = 1883):
        self.topics: list[str] = []
        self.arrived = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("rvb/v1/%s/+/birth" % site, qos=1)
        self.client.loop_start()
        assert subscribed.wait(5), "no SUBACK from the local broker"

    def _on_message(self, client, userdata, message) -> None:
        self.topics.append(message.topic)
        self.arrived.set()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class CorruptingSerial:
    """A real pyserial port whose writes carrying ``marker`` get one byte of payload changed after it,
    as a noisy line would; everything else passes through."""

    def __init__(self, url: str, marker: bytes):
        self._port = serial.serial_for_url(url, baudrate=115200, timeout=0.05)
        self.marker = marker
        self.corrupted = 0

    def write(self, data: bytes) -> int:
        at = data.find(self.marker)
        if at >= 0 and not self.corrupted:
            target = at + len(self.marker) + 20
            if target < len(data) and data[target:target + 1].isalpha():
                data = data[:target] + (b"Z" if data[target:target + 1] != b"Z" else b"Y") + data[target + 1:]
                self.corrupted += 1
        return self._port.write(data)

    def __getattr__(self, name):
        return getattr(self._port, name)
