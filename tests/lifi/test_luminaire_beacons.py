"""The luminaire role's periodic authenticated beacons, run by the real MicroPython interpreter,
taken off the (simulated) RMT and verified as the gateway does. Code sits in flash on the chip, so as in
tests/firmware/test_roles.py the role's data heap is what is measured against the budget."""

import hashlib
import json

import pytest

from protocols.lifi import beacon
from protocols.lifi.frame import parse_chips
from tests.firmware.test_roles import LUMINAIRE_FAST, NIGHT, run_role

MASTER = b"site master key of the test city"
TEXT = "Fête des Lumières ce soir"

BODY = """
import sim.devices.ina219, sim.devices.bh1750, sim.devices.wiring, sim.devices.environment, machine
from firmware.roles.luminaire import Luminaire
import firmware.drivers.ina219, firmware.drivers.bh1750, protocols.lifi.frame
from binascii import hexlify
hal = BenchHal()
wiring = sim.devices.wiring.for_board(BOARD)
sim.devices.environment.current(wiring.data.get("seed"), wiring.data.get("world_time"))

with open("boot.json", "w") as f:
    json.dump({"boot": BOOT, "crashes": 0, "stable": False, "safe": False}, f)

def chips_hex(durations, level, rmt):
    ticks = 80000000 // rmt.clock_div // CONFIG["lifi_tx"]["chip_rate"]
    chips = bytearray()
    for d in durations:
        chips.extend(bytes([1 if level else 0]) * (d // ticks))
        level = not level
    return hexlify(chips).decode()

gc.collect()
before = gc.mem_alloc()


async def main():
    frames = []
    pieces = []
    log = [True]

    def rmt_factory(channel, pin, div):
        # The chip's RMT copies the pulses into its own items on write: decode them at that moment.
        rmt = Hal.rmt(hal, channel, pin, div)
        write = rmt.write_pulses
        def write_pulses(durations, level=True):
            if log[0]:
                pieces.append(chips_hex(durations, level, rmt))
            write(durations, level)
        rmt.write_pulses = write_pulses
        hal.rmts.append(rmt)
        return rmt

    hal.rmt = rmt_factory
    role = Luminaire(hal, CONFIG, BenchClock(NIGHT_EPOCH))
    tx = role._tx

    def frame_end(send):
        # A frame may go out in several RMT writes: the pieces written by one send make one frame.
        def wrapped(arg):
            n = send(arg)
            if log[0]:
                frames.append("".join(pieces))
            pieces.clear()
            return n
        return wrapped

    tx.send_chunked = frame_end(tx.send_chunked)
    tx.send_chips = frame_end(tx.send_chips)
    await role.start()
    rmt = hal.rmts[0]
    for _ in range(LOOPS):
        await asyncio.sleep(0.01)
        if len(frames) >= 6:
            break
    message = list(await role.command("lifi-message", {"text": "TEXT"}))
    await asyncio.sleep(0.01)
    log[0] = False
    with open("capture.json", "w") as f:  # kept out of the heap measured below
        json.dump({"frames": frames}, f)
    frames.clear()
    out = {"ext": role.status_ext(), "events": role.events(), "message": message}
    heap = []
    seen = tx.sent
    for _ in range(LOOPS):
        await asyncio.sleep(0.01)
        if tx.sent != seen:
            seen = tx.sent
            gc.collect()
            heap.append(gc.mem_alloc())
        if len(heap) == 6:
            break
    out["heap"] = heap
    gc.collect()
    out["role_heap"] = gc.mem_alloc() - before
    role.stop()
    print(json.dumps(out))

asyncio.run(main())
"""


def _run(tmp_path, boot, key=None, heap="512K", loops=400):
    lamp_id = hashlib.sha256(str(tmp_path).encode()).digest()[:6]  # the sim's machine.unique_id
    if key is None:
        key = beacon.derive_lamp_key(MASTER, lamp_id).hex()
    patch = dict(LUMINAIRE_FAST, lifi_beacon={"key": key, "period_ms": 100})
    tmp_path.mkdir(exist_ok=True)
    body = BODY.replace("BOOT", str(boot)).replace("NIGHT_EPOCH", str(NIGHT)).replace("LOOPS", str(loops)).replace("TEXT", TEXT)
    got = run_role(tmp_path, "luminaire-controller", body, heap=heap, config_patch=patch,
                   wiring_patch={"world_time": NIGHT})
    got.update(json.loads((tmp_path / "capture.json").read_text()))
    return got, lamp_id, key


def test_luminaire_beacons_verify_at_the_gateway_and_counters_start_at_boot_shifted(tmp_path):
    got, lamp_id, key = _run(tmp_path, boot=3)
    verifier = beacon.BeaconVerifier(lambda lid: beacon.derive_lamp_key(MASTER, lid))
    payloads = [parse_chips(bytes.fromhex(c), "ook-100k") for c in got["frames"]]
    # messages go out between beacons on the same transmitter
    assert got["message"][0] == "ok"
    assert TEXT.encode() in payloads
    payloads = [p for p in payloads if len(p) == beacon.BEACON_SIZE]
    beacons = [verifier.verify(p) for p in payloads]
    assert len(beacons) >= 6
    assert {b.lamp_id for b in beacons} == {lamp_id}
    counters = [b.counter for b in beacons]
    # boot 3's range starts at 3 << 20; one beacon every period, none skipped
    assert (3 << 20) < counters[0] <= (3 << 20) + 3
    assert counters == list(range(counters[0], counters[0] + len(counters)))
    # sent again (a replay by anyone who recorded the light): refused and counted
    with pytest.raises(beacon.BeaconReplayed):
        verifier.verify(payloads[0])
    assert verifier.counts["accepted"] == len(beacons) and verifier.counts["replayed"] == 1
    assert got["ext"]["lifi_beacons"] >= 6 and "lifi_beacon_error" not in got["ext"]
    # the key appears nowhere the node reports
    assert key not in str(got["ext"]) + str(got["events"])
    # buffers are reused: the heap in use does not creep up beacon after beacon
    assert len(got["heap"]) == 6
    assert max(got["heap"][1:]) - got["heap"][1] < 1024, got["heap"]
    # the role's whole data (beacon and message buffers included) within the luminaire's budget
    print("luminaire role data heap with beacons:", got["role_heap"])
    assert got["role_heap"] < 16 * 1024


def test_a_reboot_moves_the_counters_past_every_earlier_boot(tmp_path):
    first, _, _ = _run(tmp_path / "a", boot=7)
    second, _, _ = _run(tmp_path / "a", boot=8)  # same board directory: same lamp, next boot
    verifier = beacon.BeaconVerifier(lambda lid: beacon.derive_lamp_key(MASTER, lid))
    sent = [parse_chips(bytes.fromhex(chips), "ook-100k") for chips in first["frames"] + second["frames"]]
    sent = [p for p in sent if len(p) == beacon.BEACON_SIZE]
    for payload in sent:
        verifier.verify(payload)
    assert len(sent) >= 12 and verifier.counts["accepted"] == len(sent)


def test_an_unusable_beacon_key_turns_beacons_off_without_showing_it(tmp_path):
    got, _, _ = _run(tmp_path, boot=1, key="not-hex-secret-value", loops=30)
    assert [len(parse_chips(bytes.fromhex(c), "ook-100k")) for c in got["frames"]] == [len(TEXT.encode())]  # the message alone
    assert got["message"][0] == "ok"  # messages still do
    assert "lifi_beacons" not in got["ext"]
    assert got["ext"]["lifi_beacon_error"] == "lifi_beacon config unusable (ValueError)"
    assert "not-hex-secret-value" not in str(got["ext"])
