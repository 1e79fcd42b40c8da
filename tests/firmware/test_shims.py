"""The simulated board's machine/network shims under MicroPython: I2C onto the device models, input
edges delivered to IRQ handlers, reset causes, and the link the simulator controls."""

import json

import pytest

from nodekit import run_micropython

pytestmark = pytest.mark.micropython


def test_i2c_reaches_the_device_models(tmp_path):
    (tmp_path / "sim.json").write_text(json.dumps({"seed": 1, "i2c": {"0": [{"part": "bme280", "addr": 118},
                                                                             {"part": "bh1750", "addr": 35}]}}))
    result = run_micropython("""
import json, machine
bus = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=100000)
chip_id = bus.readfrom_mem(118, 0xD0, 1)[0]
try:
    bus.readfrom(0x40, 1)
    absent = None
except OSError as exc:
    absent = exc.errno
print(json.dumps({"scan": bus.scan(), "chip_id": chip_id, "absent": absent,
                  "cause": machine.reset_cause() == machine.PWRON_RESET}))
""", tmp_path)
    assert result == {"scan": [35, 118], "chip_id": 0x60, "absent": 19, "cause": True}   # 19: ENODEV


def test_input_edges_reach_the_irq_handler(tmp_path):
    result = run_micropython("""
import asyncio, json, machine, _board
levels = [0, 0, 1, 1, 0, 1, 1, 0]
step = [0]

class Wired:
    def attach_pin(self, pin, board_dir):
        return lambda: levels[step[0]]

_board.devices = Wired()
rising = []

async def main():
    pin = machine.Pin(27, machine.Pin.IN)
    pin.irq(handler=lambda p: rising.append(step[0]), trigger=machine.Pin.IRQ_RISING)
    for i in range(1, len(levels)):
        await asyncio.sleep_ms(250)
        step[0] = i
    await asyncio.sleep_ms(250)
    return {"rising_at": rising}

print(json.dumps(asyncio.run(main())))
""", tmp_path)
    assert result == {"rising_at": [2, 5]}


def test_reset_cause_survives_the_restart_and_link_follows_the_simulator(tmp_path):
    (tmp_path / ".reset").write_text("watchdog")
    (tmp_path / "link-down").touch()
    result = run_micropython("""
import json, machine, network, os
w = network.WLAN(network.STA_IF)
w.active(True)
w.connect("street", "pw")
down = w.isconnected()
os.remove("link-down")
print(json.dumps({"watchdog": machine.reset_cause() == machine.WDT_RESET, "down": down, "up": w.isconnected(),
                  "mac": len(w.config("mac"))}))
""", tmp_path)
    assert result == {"watchdog": True, "down": False, "up": True, "mac": 6}
    assert not (tmp_path / ".reset").exists()         # read once: the next start is a power-on again
