"""Roles under the real MicroPython unix port, on the shipped board definitions: the firmware's HAL
over the simulator's machine shim (sim/shims) and the device models (sim/devices).

Scripts print one JSON object; SenML records travel as CBOR hex (protocols.cbor) so the integer labels
and float widths are those the node would publish."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cbor2
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from boards.loader import firmware_config, load_named, sim_wiring
from protocols import senml

MICROPYTHON = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
pytestmark = [pytest.mark.micropython,
              pytest.mark.skipif(MICROPYTHON is None, reason="MicroPython unix port not installed")]

MIDNIGHT = 1767225600           # 2026-01-01 00:00 UTC
NIGHT = MIDNIGHT + 2 * 3600
NOON = MIDNIGHT + 12 * 3600

PRELUDE = """
import asyncio, gc, json, time
from binascii import hexlify
from protocols import cbor
from firmware.hal import Hal

BOARD = {board!r}
CONFIG = json.loads({config!r})


class BenchHal(Hal):
    # The firmware's HAL over the simulator's machine shim, keeping what it hands out so a test can
    # look at the PWM duty, the RMT pulses and fire a Pin interrupt.

    def __init__(self):
        super().__init__({{}})
        self.pwms, self.rmts, self.pins = [], [], []

    def pwm(self, pin, freq, duty_u16):
        p = super().pwm(pin, freq, duty_u16)
        self.pwms.append(p)
        return p

    def pin(self, num, mode, pull=None):
        p = super().pin(num, mode, pull)
        self.pins.append(p)
        return p

    def rmt(self, channel, pin, clock_div):
        r = super().rmt(channel, pin, clock_div)
        self.rmts.append(r)
        return r


class BenchClock:
    def __init__(self, epoch=None):
        self.value = epoch

    def epoch(self):
        return self.value


def pack_hex(records):
    return hexlify(cbor.dumps(records)).decode()


def replace_wiring(change):
    with open(BOARD + "/sim.json") as f:
        w = json.load(f)
    w.update(change)
    with open(BOARD + "/next.json", "w") as f:
        json.dump(w, f)
    import os
    os.rename(BOARD + "/next.json", BOARD + "/sim.json")
"""


def run_role(tmp_path: Path, board: str, body: str, heap="512K", config_patch=None, wiring_patch=None) -> dict:
    b = load_named(board)
    config = firmware_config(b)["role"]
    for section, values in (config_patch or {}).items():
        if isinstance(values, dict) and isinstance(config.get(section), dict):
            config[section] = dict(config[section], **values)
        else:
            config[section] = values
    wiring = dict(sim_wiring(b, seed=11), **(wiring_patch or {}))
    (tmp_path / "sim.json").write_text(json.dumps(wiring))
    script = PRELUDE.format(board=str(tmp_path), config=json.dumps(config)) + textwrap.dedent(body)
    (tmp_path / "script.py").write_text(script)
    env = dict(os.environ, MICROPYPATH=f".frozen:{REPO}/sim/shims:{REPO}", RVB_BOARD_DIR=str(tmp_path))
    proc = subprocess.run([MICROPYTHON, "-X", f"heapsize={heap}", str(tmp_path / "script.py")],
                          capture_output=True, text=True, check=False, env=env, timeout=90, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_pack(hex_pack: str) -> dict:
    """Decode a sample's records as the gateway would and check them against the registry;
    -> {name: value}."""
    records = cbor2.loads(bytes.fromhex(hex_pack))
    resolved = senml.resolve(records, base_time=1767236400)
    out = {}
    for rec in resolved:
        name = rec["n"]
        unit, step, low, high, _ = senml.REGISTRY[name]
        assert rec["u"] == unit, name
        assert low <= rec["v"] <= high, name
        assert rec["v"] / step == int(rec["v"] / step), f"{name} not quantised"
        assert name not in out, f"{name} twice"
        out[name] = rec["v"]
    return out


# --- sensor node ----------------------------------------------------------------------------------

SENSOR_RUN = """
import sim.devices.bme280, sim.devices.bh1750, sim.devices.pms5003, sim.devices.analog, machine
import sim.devices.wiring, sim.devices.environment
from firmware.roles.sensor import SensorNode
import firmware.drivers.bme280, firmware.drivers.bh1750, firmware.drivers.pms5003
import firmware.drivers.noise, firmware.drivers.pir, firmware.drivers.supply
hal = BenchHal()
wiring = sim.devices.wiring.for_board(BOARD)          # the simulator's own state, loaded up front
sim.devices.environment.current(wiring.data.get("seed"), wiring.data.get("world_time"))
gc.collect()
before = gc.mem_alloc()       # code is in flash on the chip (frozen / ROMFS): count the data only

async def main():
    role = SensorNode(hal, CONFIG, BenchClock())
    await role.start()
    hal.pins[0].handler(hal.pins[0])        # one person walks past the PIR
    await asyncio.sleep(1.0)               # the fan cycle reads the PMS5003 (~0.2 s) before each sample
    first = await role.sample()
    await asyncio.sleep(1.0)
    second = await role.sample()
    gc.collect()
    heap = gc.mem_alloc() - before
    out = {"caps": role.capabilities(), "first": pack_hex(first), "second": pack_hex(second),
           "faults": role.faults(), "events": role.events(), "ext": role.status_ext(), "role_heap": heap}
    role.stop()
    print(json.dumps(out))

asyncio.run(main())
"""


def test_sensor_node_samples_every_quantity_as_a_valid_senml_pack(tmp_path):
    got = run_role(tmp_path, "esp32-devkitc-sensor", SENSOR_RUN, config_patch={
        "period": 0.3, "parts": [dict(p, spinup_s=0.05) if p["part"] == "pms5003" else p
                                 for p in firmware_config(load_named("esp32-devkitc-sensor"))["role"]["parts"]]})
    first = check_pack(got["first"])
    second = check_pack(got["second"])
    everything = {"temp", "pres", "hum", "lux", "pm25", "pm10", "noise", "presence", "vbat"}
    assert set(first) == set(second) == everything
    assert first["presence"] == 1 and second["presence"] == 0
    assert 30000 < first["pres"] < 110000 and 0 <= first["hum"] <= 100
    assert [c[0] for c in got["caps"]] == ["temp", "pres", "hum", "lux", "pm25", "pm10", "noise", "presence",
                                           "vbat"]
    assert all(c[1] == senml.REGISTRY[c[0]][0] for c in got["caps"])
    assert got["faults"] == {} and got["events"] == []
    assert got["ext"] == {"furniture": "bench", "fan": "on"}  # a 1 s period is shorter than spin-up + guard
    # The role's data once its code is loaded (on the chip the code is frozen in flash), including
    # the shim's bus objects and the model instances a chip does not hold. The node's whole steady
    # heap (runtime included) is tools/bench_firmware.py's figure; this guards the role's share.
    print("sensor role data heap:", got["role_heap"])
    assert got["role_heap"] < 16 * 1024


SENSOR_FAULTS = """
from firmware.roles.sensor import SensorNode

async def main():
    hal = BenchHal()
    role = SensorNode(hal, CONFIG, BenchClock())
    await role.start()
    broken = pack_hex(await role.sample())
    faults = role.faults()
    events = role.events()
    replace_wiring({"faults": {}})
    healed = pack_hex(await role.sample())
    out = {"broken": broken, "faults": faults, "events": events, "healed": healed,
           "faults_after": role.faults(), "events_after": role.events()}
    role.stop()
    print(json.dumps(out))

asyncio.run(main())
"""


@pytest.mark.parametrize("board, faults, expected", [
    ("esp32-devkitc-sensor", {"bme280": "absent", "bh1750": "nack"}, {"bme280": "absent", "bh1750": "nack"}),
    ("esp32-devkitc-sensor", {"bme280": "range"}, {"bme280": "range"}),
    ("esp32c3-sensor", {"sht3x": "crc"}, {"sht3x": "crc"}),
    ("esp32c3-sensor", {"sht3x": "range"}, {"sht3x": "range"}),
])
def test_sensor_faults_are_reported_retried_and_cleared(tmp_path, board, faults, expected):
    parts = [p for p in firmware_config(load_named(board))["role"]["parts"] if p["part"] != "pms5003"]
    got = run_role(tmp_path, board, SENSOR_FAULTS, config_patch={"parts": parts},
                   wiring_patch={"faults": faults})
    assert got["faults"] == expected
    assert sorted(e[1]["part"] for e in got["events"] if e[0] == "sensor-fault") == sorted(expected)
    broken = check_pack(got["broken"])
    healed = check_pack(got["healed"])
    lost = {"bme280": {"temp", "pres", "hum"}, "bh1750": {"lux"}, "sht3x": {"temp", "hum"}}
    for part in expected:
        assert not lost[part] & set(broken)
        assert lost[part] <= set(healed)
    assert got["faults_after"] == {}
    assert sorted(e[1]["part"] for e in got["events_after"] if e[0] == "sensor-ok") == sorted(expected)


def test_particulate_sensor_silent_is_a_timeout_fault_not_a_crash(tmp_path):
    got = run_role(tmp_path, "esp32-devkitc-sensor", """
    from firmware.roles.sensor import SensorNode

    async def main():
        hal = BenchHal()
        role = SensorNode(hal, CONFIG, BenchClock())
        await role.start()
        for _ in range(100):                # spin-up, then the driver's 2 s reply timeout
            await asyncio.sleep(0.1)
            if role.faults():
                break
        records = pack_hex(await role.sample())
        out = {"faults": role.faults(), "records": records}
        role.stop()
        print(json.dumps(out))

    asyncio.run(main())
    """, config_patch={"period": 0.1, "parts": [{"part": "pms5003", "uart": 2, "spinup_s": 0.05},
                                                {"part": "supply", "adc": 35, "divider": 2.0}]},
        wiring_patch={"faults": {"pms5003": "absent"}})
    assert got["faults"] == {"pms5003": "timeout"}
    assert set(check_pack(got["records"])) == {"vbat"}


def test_particulate_fan_sleeps_between_reads_and_wakes_a_spinup_before_the_sample(tmp_path):
    got = run_role(tmp_path, "esp32-devkitc-sensor", """
    from firmware.roles.sensor import SensorNode

    async def main():
        hal = BenchHal()
        role = SensorNode(hal, CONFIG, BenchClock())
        await role.start()
        fan = []
        t0 = time.ticks_ms()
        for _ in range(2):
            await asyncio.sleep(0.5)
            fan.append(role.status_ext()["fan"])       # 0.5 s: asleep until 0.95 s before the sample
            await asyncio.sleep(1.5)
            fan.append(role.status_ext()["fan"])       # 2.0 s: awake, read done
            records = pack_hex(await role.sample())
        await asyncio.sleep(0.3)
        fan.append(role.status_ext()["fan"])
        role.stop()
        print(json.dumps({"fan": fan, "records": records}))

    asyncio.run(main())
    """, config_patch={"period": 2.0, "parts": [{"part": "pms5003", "uart": 2, "spinup_s": 0.05}]})
    assert got["fan"] == ["off", "on", "off", "on", "off"]
    assert set(check_pack(got["records"])) == {"pm25", "pm10"}


# --- luminaire ------------------------------------------------------------------------------------

LUMINAIRE_FAST = {"lighting": {"control_s": 0.05, "gateway_timeout_s": 0.6}}

LUMINAIRE_RUN = """
import sim.devices.ina219, sim.devices.bh1750, sim.devices.wiring, sim.devices.environment, machine
from firmware.roles.luminaire import Luminaire
import firmware.drivers.ina219, firmware.drivers.bh1750, firmware.lifi_seam, protocols.lifi.frame
hal = BenchHal()
wiring = sim.devices.wiring.for_board(BOARD)          # the simulator's own state, loaded up front
sim.devices.environment.current(wiring.data.get("seed"), wiring.data.get("world_time"))
gc.collect()
before = gc.mem_alloc()       # code is in flash on the chip (frozen / ROMFS): count the data only

async def main():
    clock = BenchClock()
    role = Luminaire(hal, CONFIG, clock)
    t0 = time.ticks_ms()
    await role.start()
    out = {"caps": role.capabilities()}
    pwm = hal.pwms[0]
    out["safe"] = [role.level, pwm.duty_u16(), pwm.pin, pwm.freq()]
    await asyncio.sleep(0.3)
    out["dim"] = list(await role.command("dim", {"level": 30}))
    out["dimmed"] = [role.level, pwm.duty_u16()]
    await asyncio.sleep(0.3)
    out["pack"] = pack_hex(await role.sample())
    out["energy_wh"] = role.energy_wh
    out["elapsed_s"] = time.ticks_diff(time.ticks_ms(), t0) / 1000
    out["ext"] = role.status_ext()
    out["bad"] = [list(await role.command("dim", {"level": 150})),
                  list(await role.command("schedule", {"points": [[1500, 10]]})),
                  await role.command("reboot", {})]
    for _ in range(30):                           # no word from the gateway for 0.6 s: the override lapses
        await asyncio.sleep(0.1)
        if role.level != 30:
            break
    out["lapsed"] = role.level
    clock.value = NIGHT_EPOCH                     # NTP synced at 02:00 UTC
    out["schedule"] = list(await role.command("schedule", {"points": [[360, 80], [0, 40]]}))
    out["scheduled"] = role.level
    await role.command("dim", {"level": 90})
    out["overridden"] = role.level
    out["unscheduled"] = list(await role.command("schedule", {"points": []}))
    out["released"] = role.level                  # no override, no schedule: the safe level
    out["events"] = role.events()
    replace_wiring({"faults": {"lamp": "absent"}})
    for _ in range(30):                           # two control steps at a steady level, then a verdict
        await asyncio.sleep(0.1)
        if role.status_ext()["lamp"] != "on":
            break
    out["lamp"] = role.status_ext()["lamp"]
    out["lamp_events"] = role.events()
    out["faults"] = role.faults()
    gc.collect()
    out["role_heap"] = gc.mem_alloc() - before
    role.stop()
    print(json.dumps(out))

asyncio.run(main())
"""


def test_luminaire_dims_meters_and_falls_back_to_safe_level(tmp_path):
    got = run_role(tmp_path, "luminaire-controller", LUMINAIRE_RUN.replace("NIGHT_EPOCH", str(NIGHT)),
                   config_patch=LUMINAIRE_FAST, wiring_patch={"world_time": NIGHT})
    assert [c[0] for c in got["caps"]] == ["dim", "power", "energy", "lux"]
    # Night, clock unsynced, no override: the safe level, driven on the board's LED pin.
    assert got["safe"] == [70, int(70 * 65535 / 100 + 0.5), 25, 2000]
    assert got["dim"] == ["ok", {"dim": 30}]
    assert got["dimmed"] == [30, int(30 * 65535 / 100 + 0.5)]
    values = check_pack(got["pack"])
    assert values["dim"] == 30
    def lamp_w(level):                          # what the INA219 model's load draws at a level
        return 24.0 * (0.02 + 1.2 * level / 100)
    assert lamp_w(30) < values["power"] < lamp_w(70)  # the mean over a period half at 70 %, half at 30 %
    # ~15 W for ~1 s is ~0.004 Wh: integrated from the meter, published at the registry's 1/16 Wh step
    assert got["energy_wh"] == pytest.approx(values["power"] * got["elapsed_s"] / 3600, rel=0.2)
    assert values["energy"] == 0
    assert values["lux"] < 20
    assert got["ext"] == {"dim": 30, "lamp": "on", "override": True, "lifi_sent": 0}
    assert got["bad"][0][0] == "bad-args" and "0..100" in got["bad"][0][1]
    assert got["bad"][1][0] == "bad-args" and "minute_of_day" in got["bad"][1][1]
    assert got["bad"][2] is None                  # not the role's op: the runtime answers unknown-op
    assert got["lapsed"] == 70
    assert got["schedule"] == ["ok", {"points": 2}]
    assert got["scheduled"] == 40                 # 03:00 local lies between the 00:00 and 06:00 points
    assert got["overridden"] == 90
    assert got["unscheduled"] == ["ok", {"points": 0}]
    assert got["released"] == 70
    assert got["events"] == []
    assert got["lamp"] == "fault"
    assert got["lamp_events"] == [["lamp-fault", {"reason": "no-load", "dim": 70}]]
    assert got["faults"] == {}
    print("luminaire role data heap:", got["role_heap"])  # as for the sensor: the role's share
    assert got["role_heap"] < 12 * 1024


def test_luminaire_switches_off_in_daylight_and_reports_a_missing_meter(tmp_path):
    got = run_role(tmp_path, "luminaire-controller", """
    from firmware.roles.luminaire import Luminaire

    async def main():
        role = Luminaire(BenchHal(), CONFIG, BenchClock())
        await role.start()
        await asyncio.sleep(0.2)
        out = {"level": role.level, "ext": role.status_ext(), "faults": role.faults(),
               "events": role.events(), "pack": pack_hex(await role.sample())}
        role.stop()
        print(json.dumps(out))

    asyncio.run(main())
    """, config_patch=LUMINAIRE_FAST, wiring_patch={"world_time": NOON, "faults": {"ina219": "absent"}})
    assert got["level"] == 0
    assert got["ext"]["lamp"] == "unknown"
    assert got["faults"] == {"ina219": "absent"}
    assert got["events"] == [["sensor-fault", {"part": "ina219", "reason": "absent"}]]
    assert set(check_pack(got["pack"])) == {"dim", "lux"}


def test_luminaire_lifi_message_goes_out_as_a_modem_frame_on_the_rmt(tmp_path):
    got = run_role(tmp_path, "luminaire-controller", """
    from firmware.roles.luminaire import Luminaire
    from protocols.lifi.frame import parse_chips

    async def main():
        hal = BenchHal()
        role = Luminaire(hal, CONFIG, BenchClock())
        await role.start()
        result = list(await role.command("lifi-message", {"text": "Marché de Wazemmes 8h-14h"}))
        empty = list(await role.command("lifi-message", {"text": ""}))
        rmt = hal.rmts[0]
        durations, level = rmt.last
        ticks = 80000000 // rmt.clock_div // CONFIG["lifi_tx"]["chip_rate"]
        chips = bytearray()
        for d in durations:                       # back from RMT items to chips
            chips.extend(bytes([1 if level else 0]) * (d // ticks))
            level = not level
        print(json.dumps({"result": result, "empty": empty, "channel": rmt.channel, "pin": rmt.pin.id,
                          "decoded": parse_chips(chips, "ook-100k").decode(), "ext": role.status_ext()}))
        role.stop()

    asyncio.run(main())
    """, config_patch=LUMINAIRE_FAST, wiring_patch={"world_time": NIGHT})
    assert got["result"][0] == "ok" and got["result"][1]["chips"] > 0
    assert got["empty"][0] == "bad-args"
    assert (got["channel"], got["pin"]) == (0, 26)
    assert got["decoded"] == "Marché de Wazemmes 8h-14h"
    assert got["ext"]["lifi_sent"] == 1


def test_luminaire_identify_blinks_then_returns_to_its_level(tmp_path):
    got = run_role(tmp_path, "luminaire-controller", f"""
    from firmware.roles.luminaire import Luminaire

    async def main():
        hal = BenchHal()
        role = Luminaire(hal, CONFIG, BenchClock({NIGHT}))
        await role.start()
        before = role.level
        answer = list(await role.command("identify", {{"s": 1}}))
        seen = []
        for _ in range(4):
            await asyncio.sleep(0.25)
            seen.append(hal.pwms[0].duty_u16())
        await asyncio.sleep(0.6)
        print(json.dumps({{"before": before, "answer": answer, "seen": seen, "after": role.level,
                          "bad": list(await role.command("identify", {{"s": -1}}))}}))
        role.stop()

    asyncio.run(main())
    """, config_patch=LUMINAIRE_FAST, wiring_patch={"world_time": NIGHT})
    assert got["before"] == 50                    # 03:00 local: the board's schedule says 50 from 01:00
    assert got["answer"] == ["ok", None]
    assert 65535 in got["seen"] and 0 in got["seen"]
    assert got["after"] == got["before"]
    assert got["bad"][0] == "bad-args"


# --- LiFi receiver --------------------------------------------------------------------------------

def test_lifi_receiver_reports_decoded_beacons_and_counts_them(tmp_path):
    got = run_role(tmp_path, "lifi-receiver", """
    from firmware.roles.lifi_rx import LiFiReceiver
    from firmware.lifi_seam import FrameCodec

    async def main():
        role = LiFiReceiver(BenchHal(), CONFIG, BenchClock())
        await role.start()
        await asyncio.sleep(0.2)                  # a burst of the (unmodulated) photodiode model
        quiet = role.status_ext()
        chips = FrameCodec().chips(b"\\x01beacon-lamp-42")
        sps = CONFIG["photodiode"]["samples_per_chip"]
        samples = bytearray(len(chips) * sps + 200)      # 8-bit samples, as the role keeps them
        for i in range(len(samples)):
            samples[i] = 12 if i < 100 else 117           # dark before the frame, the lamp's light after
        for k in range(len(chips)):
            for j in range(sps):
                samples[100 + k * sps + j] = 117 if chips[k] else 12
        found = role.feed(samples[:len(samples) // 2]) + role.feed(samples[len(samples) // 2:])
        out = {"quiet": quiet, "found": [[p.decode(), q] for p, q in found],
               "events": [[k, d["b"].decode(), d["q"]] for k, d in role.events()],
               "pack": pack_hex(await role.sample()), "ext": role.status_ext(), "faults": role.faults(),
               "caps": role.capabilities()}
        role.stop()
        print(json.dumps(out))

    asyncio.run(main())
    """, config_patch={"photodiode": {"burst": 256, "pause_s": 0.05}})
    assert got["quiet"] == {"decoded": 0, "errors": 0}
    assert [f[0] for f in got["found"]] == ["\x01beacon-lamp-42"]
    assert got["events"] == [["lifi-beacon", "\x01beacon-lamp-42", pytest.approx(105 / 255, abs=0.001)]]
    values = check_pack(got["pack"])
    assert values["lifi"] == 1 and 3.0 < values["vbat"] < 4.5
    assert got["ext"] == {"decoded": 1, "errors": 0}
    assert got["faults"] == {}
    assert [c[0] for c in got["caps"]] == ["lifi", "vbat"]


# --- the ESP32-C3 board ----------------------------------------------------------------------------

def test_esp32c3_sensor_node_publishes_what_works_and_reports_the_rest(tmp_path):
    b = load_named("esp32c3-sensor")
    config = firmware_config(b)["role"]
    (tmp_path / "sim.json").write_text(json.dumps(dict(sim_wiring(b, seed=2), faults={"bh1750": "nack"})))
    (tmp_path / "script.py").write_text(textwrap.dedent(f"""
        import asyncio, json
        from binascii import hexlify
        from protocols import cbor
        from firmware.hal import Hal
        from firmware.clock import Clock
        from firmware.roles.sensor import SensorNode

        async def main():
            role = SensorNode(Hal({{}}), json.loads({json.dumps(config)!r}), Clock())
            await role.start()
            await asyncio.sleep(0.3)
            records = await role.sample()
            print(json.dumps({{"pack": hexlify(cbor.dumps(records)).decode(), "faults": role.faults()}}))
            role.stop()

        asyncio.run(main())
    """))
    env = dict(os.environ, MICROPYPATH=f".frozen:{REPO}/sim/shims:{REPO}", RVB_BOARD_DIR=str(tmp_path))
    proc = subprocess.run([MICROPYTHON, "-X", "heapsize=512K", str(tmp_path / "script.py")],
                          capture_output=True, text=True, check=False, env=env, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["faults"] == {"bh1750": "nack"}
    assert set(check_pack(got["pack"])) == {"temp", "hum", "noise", "presence", "vbat"}



def test_lighting_decisions_schedule_wrap_hysteresis_and_driver_floor(tmp_path):
    got = run_role(tmp_path, "luminaire-controller", """
    from firmware.roles import lighting as L

    points = L.check_schedule([[1080, 100], [60, 50], [300, 80]])
    day = L.Daylight(20.0, 60.0)
    dusk = [day.update(v) for v in (100.0, 40.0, 10.0, 40.0, None, 70.0)]
    errors = []
    for bad in ([], [[0, 10], [0, 20]], [[1440, 10]], [[0, 101]], [[0]], "x"):
        try:
            L.check_schedule(bad)
        except ValueError as exc:
            errors.append(str(exc))
    print(json.dumps({
        "sorted": points,
        "levels": [L.schedule_level(points, m) for m in (0, 59, 60, 299, 300, 1079, 1080, 1439)],
        "dusk": dusk,
        "decide": [L.decide(30, False, 100, points, 70), L.decide(None, False, 100, points, 70),
                   L.decide(None, True, 100, points, 70), L.decide(None, None, None, points, 70),
                   L.decide(None, True, 100, None, 70)],
        "duty": [L.duty_u16(0, 10), L.duty_u16(5, 10), L.duty_u16(100, 10)],
        "errors": errors,
    }))
    """)
    assert got["sorted"] == [[60, 50], [300, 80], [1080, 100]]
    # Before the first point of the day, yesterday's last level still holds.
    assert got["levels"] == [100, 100, 50, 50, 80, 80, 100, 100]
    # Dark below 20 lx, day above 60 lx, unchanged in between or without a reading.
    assert got["dusk"] == [False, False, True, True, True, False]
    # Override first; off by day; schedule when the time is known; else (or unknown light) the safe level.
    assert got["decide"] == [30, 0, 50, 70, 70]
    assert got["duty"] == [0, int(10 * 65535 / 100 + 0.5), 65535]
    assert len(got["errors"]) == 6
    assert "two points at minute 0" in got["errors"][1]
    assert "point 0: minute_of_day" in got["errors"][2]
