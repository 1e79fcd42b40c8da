"""Deploy targets for the field tests: a simulated board on a pty (sim/serial_board.py) and a test
double of the serial link that corrupts what is written, behind pyserial's interface."""

import json
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import serial

from boards.loader import load_named, sim_wiring
from gateway.field.deploy import make_plan
from sim.serial_board import SerialBoard, prepare_blank

BOARD = "esp32-devkitc-sensor"


def blank_board(flash: Path) -> SerialBoard:
    """A freshly flashed board; the simulator's wiring (which device model sits on which bus) stands in
    for the soldered sensors and is not part of a deploy."""
    prepare_blank(flash)
    (flash / "sim.json").write_text(json.dumps(sim_wiring(load_named(BOARD))))
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


class ConsoleOnPty:
    """A deployed flash directory booted with the firmware's console on a plain raw pty, as a UART that
    passes every byte (the serial-board link turns 0x03 into an interrupt, which Improv frames carry)."""

    def __init__(self, flash: Path):
        import os
        import subprocess
        import tty

        from sim.board_process import BoardProcess
        runner = BoardProcess(flash)
        master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self._slave = slave
        self.process = subprocess.Popen(
            [runner.micropython, "-X", "heapsize=%d" % runner.heapsize(), "-c",
             "from firmware.main import main\nmain()\n"],
            cwd=flash, env=runner.env(), stdin=master, stdout=master, stderr=subprocess.STDOUT)
        os.close(master)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def close(self) -> None:
        import os
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self._slave)
