"""Measure the wire contract against the targets of issue 2.

    python tools/bench_protocols.py [--json] [--seconds S] [--mpy-iterations N]

- size of the typical sensor data message (six quantised readings, one timestamp) in CBOR against the
  same content as compact JSON with SenML JSON labels (target: ratio <= 0.5);
- under the MicroPython unix port (run from the repository root, modules from source): time and
  allocation to encode that message (targets < 2 ms, < 2 KB) and time to decode a 1 KB message
  (target < 5 ms);
- in CPython on one core: the gateway's decoder path, cbor2.loads + messages.validate_data, in
  messages per CPU second (target >= 200,000), with the reference paths beside it, and the machine's
  load average, since the MicroPython timings are wall-clock.

Prints a table, or with --json one JSON object of named figures. Progress goes to stderr.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cbor2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protocols import cbor  # noqa: E402
from protocols import messages  # noqa: E402
from protocols import senml  # noqa: E402

MICROPYTHON = Path(sys.executable).parent / "micropython"

# The typical sensor node reading: what the firmware measures on a November evening in Lille.
T0 = 1763760000
BOOT = 42
SEQ = 1234
RAW_READINGS = (("temp", 18.3), ("hum", 62.4), ("pres", 101325.4), ("lux", 12345.67), ("pm25", 8.3),
                ("pm10", 14.6))

# Runs under MicroPython; RAW_READINGS, BOOT, SEQ, T0 and ITERATIONS are prepended.
MPY_SCRIPT = r"""
import gc
import json
import time
from protocols import cbor
from protocols import senml
gc.collect()
before_import = gc.mem_alloc()
from protocols import messages
gc.collect()
MESSAGES_IMPORT_BYTES = gc.mem_alloc() - before_import

def typical():
    pack = []
    for name, raw in RAW_READINGS:
        pack.append({0: name, 1: senml.REGISTRY[name][0], 2: senml.quantise(name, raw)})
    return messages.data(BOOT, SEQ, T0, pack)

def per_call_us(function, argument, iterations):
    # Best of five rounds: the unix port shares the machine with other processes.
    best = None
    for _ in range(5):
        start = time.ticks_us()
        for _ in range(iterations):
            function(argument)
        elapsed = time.ticks_diff(time.ticks_us(), start) / iterations
        if best is None or elapsed < best:
            best = elapsed
    return best

def allocated(function, argument):
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    function(argument)
    after = gc.mem_alloc()
    gc.enable()
    return after - before

def build_and_encode(_):
    return cbor.dumps(typical())

msg = typical()
encoded = cbor.dumps(msg)
big_pack = []
index = 0
while len(cbor.dumps(messages.data(BOOT, SEQ, T0, big_pack))) < 1024:
    name, raw = RAW_READINGS[index % len(RAW_READINGS)]
    big_pack.append({0: name, 1: senml.REGISTRY[name][0], 2: senml.quantise(name, raw + index),
                     6: -60 * index})
    index += 1
big = cbor.dumps(messages.data(BOOT, SEQ, T0, big_pack))
decoded = cbor.loads(encoded)
messages.validate("data", decoded)

figures = {
    "encoded_hex": encoded.hex(),
    "messages_import_bytes": MESSAGES_IMPORT_BYTES,
    "encode_us": per_call_us(cbor.dumps, msg, ITERATIONS),
    "encode_alloc_bytes": allocated(cbor.dumps, msg),
    "build_encode_us": per_call_us(build_and_encode, None, ITERATIONS),
    "build_encode_alloc_bytes": allocated(build_and_encode, None),
    "decode_1k_bytes": len(big),
    "decode_1k_us": per_call_us(cbor.loads, big, max(1, ITERATIONS // 10)),
    "decode_1k_alloc_bytes": allocated(cbor.loads, big),
    "validate_us": per_call_us(lambda m: messages.validate("data", m), decoded, ITERATIONS),
}
print(json.dumps(figures))
"""


def log(text):
    print(text, file=sys.stderr, flush=True)


def typical_message():
    pack = [{senml.N: name, senml.U: senml.REGISTRY[name][0], senml.V: senml.quantise(name, raw)}
            for name, raw in RAW_READINGS]
    return messages.data(BOOT, SEQ, T0, pack)


def as_compact_json(msg):
    """The same content as JSON: named envelope keys and the SenML JSON labels (RFC 8428 section 5)."""
    pack = [{"n": r[senml.N], "u": r[senml.U], "v": r[senml.V]} for r in msg[messages.PACK]]
    content = {"boot": msg[messages.BOOT], "seq": msg[messages.SEQ], "time": msg[messages.TIME], "pack": pack}
    return json.dumps(content, separators=(",", ":")).encode()


def rate(function, payload, seconds, rounds=5):
    """Calls of ``function(payload)`` per CPU second of this process (one core): the best of ``rounds``
    rounds that together take about ``seconds``. CPU time rather than wall time, so other processes on a
    busy machine count as little as they can."""
    batch = 1000
    best = 0.0
    for _ in range(rounds):
        calls = 0
        start = time.process_time()
        elapsed = 0.0
        while elapsed < seconds / rounds:
            for _ in range(batch):
                function(payload)
            calls += batch
            elapsed = time.process_time() - start
        best = max(best, calls / elapsed)
    return best


def measure_micropython(iterations):
    prelude = "RAW_READINGS = %r\nBOOT = %d\nSEQ = %d\nT0 = %d\nITERATIONS = %d\n" % (
        RAW_READINGS, BOOT, SEQ, T0, iterations)
    result = subprocess.run([str(MICROPYTHON), "-c", prelude + MPY_SCRIPT], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    if result.returncode != 0:
        raise SystemExit("micropython run failed:\n" + result.stdout + result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


# In print order (a MicroPython dict comes back in hash order).
MPY_FIGURES = ("encode_us", "encode_alloc_bytes", "build_encode_us", "build_encode_alloc_bytes",
               "decode_1k_bytes", "decode_1k_us", "decode_1k_alloc_bytes", "validate_us",
               "messages_import_bytes")


def measure(seconds, mpy_iterations):
    figures = {}
    msg = typical_message()
    encoded = cbor.dumps(msg)
    compact_json = as_compact_json(msg)
    assert cbor2.loads(encoded) == msg and encoded == cbor2.dumps(msg, canonical=True)
    figures["data_cbor_bytes"] = len(encoded)
    figures["data_json_bytes"] = len(compact_json)
    figures["data_cbor_json_ratio"] = round(len(encoded) / len(compact_json), 3)

    log("MicroPython: encoding and decoding (%d iterations)..." % mpy_iterations)
    mpy = measure_micropython(mpy_iterations)
    # A plain MicroPython dict iterates in hash order, so the keys may come in another order: same content.
    mpy_encoded = bytes.fromhex(mpy.pop("encoded_hex"))
    if cbor2.loads(mpy_encoded) != msg or len(mpy_encoded) != len(encoded):
        raise SystemExit("MicroPython encodes the typical message differently from CPython")
    for name in MPY_FIGURES:
        value = mpy[name]
        figures["mpy_" + name] = round(value, 1) if isinstance(value, float) else value

    log("CPython: decoder paths (%.1f s each)..." % seconds)
    paths = {
        "cpython_cbor2_validate_data_msgs_per_s": lambda b: messages.validate_data(cbor2.loads(b)),
        "cpython_cbor2_validate_msgs_per_s": lambda b: messages.validate("data", cbor2.loads(b)),
        "cpython_cbor2_loads_msgs_per_s": cbor2.loads,
        "cpython_protocols_cbor_validate_data_msgs_per_s": lambda b: messages.validate_data(cbor.loads(b)),
    }
    for name, path in paths.items():
        figures[name] = round(rate(path, encoded, seconds))
    figures["load_average_1min"] = round(os.getloadavg()[0], 2)
    return figures


TARGETS = {
    "data_cbor_json_ratio": ("<=", 0.5),
    "mpy_encode_us": ("<", 2000),
    "mpy_encode_alloc_bytes": ("<", 2048),
    "mpy_build_encode_us": ("<", 2000),
    "mpy_build_encode_alloc_bytes": ("<", 2048),
    "mpy_decode_1k_us": ("<", 5000),
    "cpython_cbor2_validate_data_msgs_per_s": (">=", 200000),
}


def meets(value, target):
    relation, bound = target
    return {"<=": value <= bound, "<": value < bound, ">=": value >= bound}[relation]


def print_table(figures):
    width = max(len(name) for name in figures)
    for name, value in figures.items():
        target = TARGETS.get(name)
        verdict = ""
        if target:
            verdict = "  target %s %s: %s" % (target[0], target[1],
                                               "met" if meets(value, target) else "MISSED")
        print("%-*s  %12s%s" % (width, name, value, verdict))


def main():
    parser = argparse.ArgumentParser(description="Measure the wire contract against the issue-2 targets.")
    parser.add_argument("--json", action="store_true", help="print one JSON object of named figures")
    parser.add_argument("--seconds", type=float, default=1.0, help="wall time per CPython decoder path")
    parser.add_argument("--mpy-iterations", type=int, default=2000, help="MicroPython encode iterations")
    args = parser.parse_args()
    figures = measure(args.seconds, args.mpy_iterations)
    if args.json:
        print(json.dumps(figures))
    else:
        print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
