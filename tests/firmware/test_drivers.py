"""Drivers against the register-level device models, under the real MicroPython unix port.

Each test writes a board directory with a `sim.json`, runs a short MicroPython script that drives the
firmware drivers through the simulator's `machine` shim (sim/shims) over the device models, and checks
what the script prints (one JSON object)."""

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MICROPYTHON = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")

pytestmark = [pytest.mark.micropython,
              pytest.mark.skipif(MICROPYTHON is None, reason="MicroPython unix port not installed")]

WIRING = {
    "seed": 5,
    "i2c": {"0": [{"part": "bme280", "addr": 0x76}, {"part": "sht3x", "addr": 0x44},
                  {"part": "bh1750", "addr": 0x23}, {"part": "ina219", "addr": 0x40}]},
    "uart": {"2": {"part": "pms5003"}},
    "adc": {"34": {"part": "microphone", "kind": "envelope", "ref_v": 0.1, "ref_db": 60.0},
            "35": {"part": "battery", "divider": 2.0}},
    "pin": {"27": {"part": "pir"}},
    "faults": {},
}

PRELUDE = """
import asyncio, json, machine
from sim.devices import environment, attach_uart
from firmware.drivers.fault import SensorFault
BOARD = {board!r}
env = environment.current({seed})

async def outcome(coro):
    try:
        return await coro
    except SensorFault as f:
        return "fault:" + f.reason

def outcome_sync(fn):
    try:
        return fn()
    except SensorFault as f:
        return "fault:" + f.reason
"""


def run_mpy(board_dir: Path, body: str, heap="128K", wiring=None) -> dict:
    """Run `body` under MicroPython with the repo on its path; -> the JSON object it prints last."""
    w = dict(WIRING if wiring is None else wiring)
    (board_dir / "sim.json").write_text(json.dumps(w))
    script = PRELUDE.format(board=str(board_dir), seed=w.get("seed", 1)) + textwrap.dedent(body)
    (board_dir / "script.py").write_text(script)
    env = dict(os.environ, MICROPYPATH=f".frozen:{REPO}/sim/shims:{REPO}", RVB_BOARD_DIR=str(board_dir))
    proc = subprocess.run([MICROPYTHON, "-X", f"heapsize={heap}", str(board_dir / "script.py")],
                          capture_output=True, text=True, check=False, env=env, timeout=60, cwd=board_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def set_faults(board_dir: Path, faults: dict, wiring=None):
    w = dict(WIRING if wiring is None else wiring, faults=faults)
    tmp = board_dir / "sim.json.tmp"
    tmp.write_text(json.dumps(w))
    tmp.rename(board_dir / "sim.json")


# --- BME280 compensation --------------------------------------------------------------------------

# Trimming and raw values of the Bosch worked example (BMP280 datasheet 3.12; same T/P formulas).
EXAMPLE_TRIM = {"t1": 27504, "t2": 26435, "t3": -1000, "p1": 36477, "p2": -10685, "p3": 3024, "p4": 2855, "p5": 140, "p6": -7,
                    "p7": 15500, "p8": -14600, "p9": 6000, "h1": 75, "h2": 362, "h3": 0, "h4": 313, "h5": 50, "h6": 30}

CALIBRATION_SCRIPT = """
import struct
from firmware.drivers import bme280 as b
c = {trim}
tp = bytearray(26)
struct.pack_into("<HhhHhhhhhhhh", tp, 0, c["t1"], c["t2"], c["t3"], c["p1"], c["p2"], c["p3"], c["p4"],
                 c["p5"], c["p6"], c["p7"], c["p8"], c["p9"])
tp[25] = c["h1"]
h = bytearray(7)
struct.pack_into("<h", h, 0, c["h2"])
h[2] = c["h3"]
h[3] = (c["h4"] >> 4) & 0xFF
h[4] = ((c["h5"] & 0x0F) << 4) | (c["h4"] & 0x0F)
h[5] = (c["h5"] >> 4) & 0xFF
h[6] = c["h6"] & 0xFF
cal = b.Calibration(tp, h)
out = []
for adc_t, adc_p, adc_h in {raws}:
    t, tf = b.compensate_t(cal, adc_t)
    out.append([t / 100, tf, b.compensate_p(cal, adc_p, tf) / 256, b.compensate_h(cal, adc_h, tf) / 1024])
print(json.dumps({{"h4": cal.h4, "h5": cal.h5, "h6": cal.h6, "out": out}}))
"""


def float_compensation(c, adc_t, adc_p, adc_h):
    """The datasheet's double-precision formulas (BME280 datasheet appendix 8.1), written independently."""
    var1 = (adc_t / 16384.0 - c["t1"] / 1024.0) * c["t2"]
    var2 = ((adc_t / 131072.0 - c["t1"] / 8192.0) * (adc_t / 131072.0 - c["t1"] / 8192.0)) * c["t3"]
    t_fine = var1 + var2
    temp = t_fine / 5120.0
    var1 = t_fine / 2.0 - 64000.0
    var2 = var1 * var1 * c["p6"] / 32768.0 + var1 * c["p5"] * 2.0
    var2 = var2 / 4.0 + c["p4"] * 65536.0
    var1 = (c["p3"] * var1 * var1 / 524288.0 + c["p2"] * var1) / 524288.0
    var1 = (1.0 + var1 / 32768.0) * c["p1"]
    p = 1048576.0 - adc_p
    p = (p - var2 / 4096.0) * 6250.0 / var1
    p = p + (c["p9"] * p * p / 2147483648.0 + p * c["p8"] / 32768.0 + c["p7"]) / 16.0
    h = t_fine - 76800.0
    h = (adc_h - (c["h4"] * 64.0 + c["h5"] / 16384.0 * h)) * (
        c["h2"] / 65536.0 * (1.0 + c["h6"] / 67108864.0 * h * (1.0 + c["h3"] / 67108864.0 * h)))
    h = min(100.0, max(0.0, h * (1.0 - c["h1"] * h / 524288.0)))
    return temp, p, h


def test_bme280_integer_compensation_matches_datasheet_example(tmp_path):
    got = run_mpy(tmp_path, CALIBRATION_SCRIPT.format(trim=EXAMPLE_TRIM, raws=[(519888, 415148, 30000)]))
    assert (got["h4"], got["h5"], got["h6"]) == (313, 50, 30)  # 12-bit fields split over 0xE4..0xE6
    temp, t_fine, pres, _ = got["out"][0]
    assert t_fine == 128422
    assert temp == 25.08
    assert pres == pytest.approx(100653.27, abs=0.05)


def test_bme280_integer_compensation_agrees_with_float_formulas(tmp_path):
    raws = [(t, p, h) for t in (400000, 480000, 519888, 560000, 620000)
            for p in (300000, 415148, 500000) for h in (20000, 30000, 40000)]
    got = run_mpy(tmp_path, CALIBRATION_SCRIPT.format(trim=EXAMPLE_TRIM, raws=raws), heap="256K")
    for (adc_t, adc_p, adc_h), (temp, _, pres, hum) in zip(raws, got["out"]):
        ref_t, ref_p, ref_h = float_compensation(EXAMPLE_TRIM, adc_t, adc_p, adc_h)
        assert temp == pytest.approx(ref_t, abs=0.01)
        assert pres == pytest.approx(ref_p, abs=1.0)
        assert hum == pytest.approx(ref_h, abs=0.05)


# --- every driver against its model ---------------------------------------------------------------

READ_ALL = """
from firmware.drivers.bme280 import BME280
from firmware.drivers.sht3x import SHT3x
from firmware.drivers.bh1750 import BH1750
from firmware.drivers.ina219 import INA219
from firmware.drivers.pms5003 import PMS5003
from firmware.drivers.noise import NoiseMeter
from firmware.drivers.supply import SupplyMonitor
i2c = machine.I2C(0)

async def main():
    t = env.now()
    truth = {"temp": env.temperature(t), "pres": env.pressure(t), "hum": env.humidity(t),
             "lux": env.lux(t), "pm25": env.pm25(t), "pm10": env.pm10(t), "noise": env.noise_db(t),
             "vbat": env.supply_v(t), "amps": 0.02 + 1.2 * env.lamp_level(t)}
    out = {"truth": truth, "scan": i2c.scan()}
    out["bme280"] = await outcome(BME280(i2c, 0x76).read())
    out["sht3x"] = await outcome(SHT3x(i2c, 0x44).read())
    out["bh1750"] = await outcome(BH1750(i2c, 0x23).read())
    out["ina219"] = outcome_sync(INA219(i2c, 0x40).read)
    pms = PMS5003(machine.UART(2, 9600), spinup_s=0.01)
    out["pms5003"] = await outcome(pms.read())
    noise = NoiseMeter(machine.ADC(machine.Pin(34)))
    out["noise_truth"] = []
    for _ in range(4):
        out["noise_truth"].append(env.noise_db(env.now()))
        noise.sample()
    out["noise"] = outcome_sync(noise.take)
    out["supply"] = outcome_sync(SupplyMonitor(machine.ADC(machine.Pin(35))).read)
    print(json.dumps(out))

asyncio.run(main())
"""


def test_drivers_read_what_the_models_measure(tmp_path):
    got = run_mpy(tmp_path, READ_ALL, heap="256K")
    truth = got["truth"]
    assert got["scan"] == [0x23, 0x40, 0x44, 0x76]
    temp, pres, hum = got["bme280"]
    assert temp == pytest.approx(truth["temp"], abs=0.02)
    assert pres == pytest.approx(truth["pres"], abs=2.0)
    assert hum == pytest.approx(truth["hum"], abs=0.1)
    temp, hum = got["sht3x"]
    assert temp == pytest.approx(truth["temp"], abs=0.01)
    assert hum == pytest.approx(truth["hum"], abs=0.01)
    assert got["bh1750"] == pytest.approx(truth["lux"], abs=1 / 1.2)
    bus_v, shunt_v, amps, watts = got["ina219"]
    assert bus_v == pytest.approx(24.0, abs=0.004)
    assert shunt_v == pytest.approx(truth["amps"] * 0.1, abs=2e-5)
    assert amps == pytest.approx(truth["amps"], abs=0.002)
    assert watts == pytest.approx(bus_v * amps, rel=0.01)
    pm1, pm25, pm10 = got["pms5003"]
    assert pm25 == round(truth["pm25"]) and pm10 == round(truth["pm10"])
    assert pm1 == pm25 * 2 // 3                     # the model's PM1.0 share
    levels = got["noise_truth"]
    laeq = 10 * math.log10(sum(10 ** (level / 10) for level in levels) / len(levels))
    assert got["noise"] == pytest.approx(laeq, abs=0.01)
    assert got["supply"] == pytest.approx(truth["vbat"], abs=0.01)


def test_ina219_calibration_register_follows_the_datasheet():
    sys.path.insert(0, str(REPO))
    from firmware.drivers.ina219 import calibration
    cal, lsb = calibration(2.0, 0.1)
    # Cal = trunc(0.04096 / (Current_LSB * R_shunt)) with Current_LSB = 2 A / 2^15
    assert cal == math.trunc(0.04096 / (2.0 / 32768 * 0.1)) & 0xFFFE == 6710
    assert lsb == pytest.approx(2.0 / 32768, rel=1e-3)


# --- faults ---------------------------------------------------------------------------------------

FAULTS_SCRIPT = """
from firmware.drivers.bme280 import BME280
from firmware.drivers.sht3x import SHT3x
from firmware.drivers.bh1750 import BH1750
from firmware.drivers.ina219 import INA219
from firmware.drivers.pms5003 import PMS5003
i2c = machine.I2C(0)

async def main():
    pms = PMS5003(machine.UART(2, 9600), spinup_s=0.01)
    out = {
        "bme280": await outcome(BME280(i2c, 0x76).read()),
        "sht3x": await outcome(SHT3x(i2c, 0x44).read()),
        "bh1750": await outcome(BH1750(i2c, 0x23).read()),
        "ina219": outcome_sync(INA219(i2c, 0x40).read),
        "pms5003": await outcome(pms.read()),
        "missing": await outcome(BME280(i2c, 0x77).read()),
    }
    print(json.dumps(out))

asyncio.run(main())
"""


@pytest.mark.parametrize("reason, expected", [
    ("absent", {"bme280": "fault:absent", "sht3x": "fault:absent", "bh1750": "fault:absent",
                "ina219": "fault:absent", "pms5003": "fault:timeout"}),
    ("nack", {"bme280": "fault:nack", "sht3x": "fault:nack", "bh1750": "fault:nack", "ina219": "fault:nack"}),
    ("crc", {"sht3x": "fault:crc", "pms5003": "fault:crc"}),
    ("range", {"bme280": "fault:range", "ina219": "fault:range"}),
])
def test_injected_faults_surface_as_typed_reasons(tmp_path, reason, expected):
    faults = {part: reason for part in ("bme280", "sht3x", "bh1750", "ina219", "pms5003")}
    got = run_mpy(tmp_path, FAULTS_SCRIPT, heap="256K", wiring=dict(WIRING, faults=faults))
    assert got.pop("missing") == "fault:absent"  # nothing strapped at 0x77
    for part, outcome in expected.items():
        assert got[part] == outcome, part


def test_fault_file_is_reread_and_recovery_follows(tmp_path):
    script = """
    import os
    from firmware.drivers.sht3x import SHT3x
    sht = SHT3x(machine.I2C(0), 0x44)

    def replace_wiring(text):
        with open(BOARD + "/next.json", "w") as f:
            f.write(text)
        os.rename(BOARD + "/next.json", BOARD + "/sim.json")

    async def main():
        seen = []
        for faults in ('{"sht3x": "crc"}', '{}', None):
            r = await outcome(sht.read())
            seen.append(r if isinstance(r, str) else "ok")
            if faults is not None:
                replace_wiring('{"i2c": {"0": [{"part": "sht3x", "addr": 68}]}, "faults": %s}' % faults)
        print(json.dumps({"seen": seen}))

    asyncio.run(main())
    """
    got = run_mpy(tmp_path, script, heap="128K")
    assert got["seen"] == ["ok", "fault:crc", "ok"]


def test_sensirion_crc8_matches_datasheet_example(tmp_path):
    got = run_mpy(tmp_path, """
    from firmware.drivers.sht3x import crc8_sensirion
    print(json.dumps({"beef": crc8_sensirion(b"\\xbe\\xef"), "zero": crc8_sensirion(b"\\x00\\x00")}))
    """)
    assert got["beef"] == 0x92  # SHT3x datasheet 4.12 example
    assert got["zero"] == 0x81


def test_pir_counts_debounced_rising_edges(tmp_path):
    # A GPIO interrupt cannot fire here: a Pin stand-in with the same irq() interface replays edges.
    got = run_mpy(tmp_path, """
    from firmware.drivers.pir import PresenceCounter
    import time

    class EdgePin:
        IRQ_RISING = 1
        def irq(self, trigger, handler):
            self.handler = handler

    now = [0]
    pin = EdgePin()
    pir = PresenceCounter(pin, lambda: now[0], time.ticks_diff, hold_ms=2000)
    counts = []
    for t in (0, 300, 1999, 2500, 2600, 9000):   # chatter within 2 s of a counted edge is the same presence
        now[0] = t
        pin.handler(pin)
    counts.append(pir.take())
    now[0] = 20000
    pin.handler(pin)
    counts.append(pir.take())
    counts.append(pir.take())
    print(json.dumps({"counts": counts, "total": pir.total}))
    """)
    assert got["counts"] == [3, 1, 0]
    assert got["total"] == 4


def test_pms5003_fan_sleeps_and_wakes_with_checked_commands(tmp_path):
    got = run_mpy(tmp_path, """
    from firmware.drivers.pms5003 import PMS5003, command
    model = attach_uart(2, BOARD)
    pms = PMS5003(model, spinup_s=0.01)

    async def main():
        out = {"sleep_cmd": list(command(0xE4, 0))}
        pms.sleep()
        out["asleep"] = not model.awake
        out["silent_asleep"] = model.any() == 0
        r = await outcome(pms.read())          # wakes the fan, waits the spin-up, reads
        out["read"] = r
        out["awake_after"] = model.awake and model.passive
        print(json.dumps(out))

    asyncio.run(main())
    """)
    assert got["sleep_cmd"] == [0x42, 0x4D, 0xE4, 0x00, 0x00, 0x01, 0x73]  # datasheet appendix B
    assert got["asleep"] and got["silent_asleep"]
    assert isinstance(got["read"], list) and len(got["read"]) == 3
    assert got["awake_after"]
