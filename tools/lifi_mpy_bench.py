"""Cost of building a 32-byte LiFi beacon frame on the MicroPython unix port: time and allocation.

Run with CPython (it starts the venv's micropython on this same file) or directly with
micropython. ``--json`` prints one JSON object of named figures, otherwise a table.
Figures per mode and dimming: ``build_us`` (median of repeated FrameBuilder.build, buffers
preallocated as on the luminaire; ``build_us_min`` the fastest run, the better figure on a busy
machine), ``alloc_bytes`` (gc.mem_alloc delta of one build with the
collector off), ``oneshot_us`` / ``oneshot_alloc_bytes`` (build_frame allocating everything).
An ESP32 at 240 MHz runs this code roughly 10-30x slower than the unix port on a PC; the figures
``esp32_*_ms`` apply the assumed factor ``esp32_factor``.
"""

import sys

MODES = ("ook-11.67k", "ook-24.44k", "ook-48.89k", "ook-100k", "vppm-124.4k")
DIMS = (None, 0.3)
PAYLOAD_LEN = 32
REPEATS = 31
ESP32_FACTOR = 20


def _median(values):
    values = sorted(values)
    return values[len(values) // 2]


def measure(repo):
    import gc
    import time

    sys.path.insert(0, repo)
    from protocols.lifi import frame

    payload = bytes(range(PAYLOAD_LEN))
    figures = {"payload_bytes": PAYLOAD_LEN, "esp32_factor": ESP32_FACTOR}
    for name in MODES:
        for dim in DIMS:
            key = "%s%s" % (name, "" if dim is None else "-dim%d" % int(dim * 100))
            builder = frame.FrameBuilder(name, PAYLOAD_LEN, dim=dim)
            builder.build(payload)
            times = []
            for _ in range(REPEATS):
                t0 = time.ticks_us()
                builder.build(payload)
                times.append(time.ticks_diff(time.ticks_us(), t0))
            gc.collect()
            gc.disable()
            before = gc.mem_alloc()
            chips = builder.build(payload)
            alloc = gc.mem_alloc() - before
            gc.enable()
            times1 = []
            for _ in range(5):
                gc.collect()
                t0 = time.ticks_us()
                frame.build_frame(payload, name, dim)
                times1.append(time.ticks_diff(time.ticks_us(), t0))
            gc.collect()
            gc.disable()
            before = gc.mem_alloc()
            frame.build_frame(payload, name, dim)
            alloc1 = gc.mem_alloc() - before
            gc.enable()
            build_us = _median(times)
            figures[key + ".chips"] = len(chips)
            figures[key + ".build_us"] = build_us
            figures[key + ".build_us_min"] = min(times)
            figures[key + ".alloc_bytes"] = alloc
            figures[key + ".oneshot_us"] = _median(times1)
            figures[key + ".oneshot_alloc_bytes"] = alloc1
            figures[key + ".esp32_build_ms"] = build_us * ESP32_FACTOR / 1000
    return figures


def main_micropython():
    import json

    args = sys.argv[1:]
    repo = args[0] if args else "."
    print(json.dumps(measure(repo)))


def main_cpython():
    import argparse
    import json
    import subprocess
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object of named figures")
    parser.add_argument("--micropython", default=None, help="the unix port to run (default: the venv's)")
    parser.add_argument("--heapsize", default="256K", help="MicroPython heap (-X heapsize=)")
    opts = parser.parse_args()
    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo))
    from sim.board_process import find_micropython
    out = subprocess.run([opts.micropython or find_micropython(), "-X", "heapsize=" + opts.heapsize, __file__, str(repo)],
                         check=True, capture_output=True, text=True, timeout=300).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    if opts.json:
        print(json.dumps(figures))
        return
    print("32-byte beacon frame on the MicroPython unix port (ESP32 estimate: x%d)" % ESP32_FACTOR)
    print("%-22s %7s %9s %9s %9s %11s %12s %10s" % ("mode", "chips", "build_us", "min_us", "alloc_B",
                                                     "oneshot_us", "oneshot_B", "esp32_ms"))
    for key in sorted({k.rsplit(".", 1)[0] for k in figures if "." in k}):
        print("%-22s %7d %9d %9d %9d %11d %12d %10.2f" % (
            key, figures[key + ".chips"], figures[key + ".build_us"], figures[key + ".build_us_min"],
            figures[key + ".alloc_bytes"],
            figures[key + ".oneshot_us"], figures[key + ".oneshot_alloc_bytes"],
            figures[key + ".esp32_build_ms"]))


if __name__ == "__main__":
    if sys.implementation.name == "micropython":
        main_micropython()
    else:
        main_cpython()
