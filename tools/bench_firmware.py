"""Firmware figures: steady-state heap per role, boot to first data, store-and-forward capacity.

    python tools/bench_firmware.py [--json] [--host 127.0.0.1 --port 1883]

Boards are simulated (sim/board_process.py: the real firmware under the MicroPython unix port, the
roles of firmware/roles on the shipped board files) against the given broker.

- heap: ``heap_alloc`` of the node's own status messages (taken after gc.collect()) once it has run a
  few seconds, minus the code footprint (bytecode of firmware, protocols, shims and device models,
  which an ESP32 keeps in flash: frozen or ROMFS). The total is reported too.
- boot to first data: from starting the process to the first data message arriving at a subscriber,
  with the random start-up delay set to 0 (a field node waits up to ``startup_delay_ms`` more).
- ring capacity: flash bytes per stored reading for the sensor node's real pack, and how many readings
  a full 256 KB ring (8 segments of 32 KB) holds, counted by filling one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "firmware"))

from nodekit import Collector, unique_site, wait_until  # noqa: E402

from firmware.clock import SYNCED  # noqa: E402
from firmware.ring import Ring, reading_bytes  # noqa: E402
from sim.board_process import BoardProcess, code_footprint, node_config, prepare  # noqa: E402

BOARDS = {"sensor": "esp32-devkitc-sensor", "luminaire": "luminaire-controller"}
RING_BYTES = 256 * 1024
RING_SEGMENTS = 8


def run_board(board: str, host: str, port: int, seconds: float, workdir: Path) -> dict:
    site = unique_site("bench")
    collector = Collector(site, host, port)
    cfg = node_config(board, site, host, port, node_id=site, period=1, status_period=0.5,
                      stable_after_s=1)
    board_dir = prepare(workdir / board, cfg, seed=3)
    process = BoardProcess(board_dir, heap="64K")
    footprint = code_footprint(cfg)
    try:
        started = time.monotonic()
        process.start()
        if not wait_until(lambda: collector.of("data"), 20, step=0.005):
            raise RuntimeError(f"{board}: no data\n{process.console_text()}")
        first_data_s = time.monotonic() - started
        if board == BOARDS["luminaire"]:
            # Load the LiFi modem as a working luminaire does (its code counts as flash, see above).
            collector.publish_cmd(site, 1, "lifi-message", {"text": "bench"})
            wait_until(lambda: collector.ack_for(1), 10)
        time.sleep(seconds)
    finally:
        process.kill()
        collector.close()
    statuses = collector.of("status")
    steady = [s[22] for s in statuses[len(statuses) // 2:]]
    total = int(statistics.median(steady))
    from firmware.runtime import stored_pack
    stored = stored_pack(collector.of("data")[-1][4])
    lifi = collector.ack_for(1)
    return {"first_data_s": round(first_data_s, 3), "lifi_ack": lifi[43] if lifi else None, "heap_total": total, "code_footprint": footprint,
            "heap_data": total - footprint, "heap_free": statuses[-1][21],
            "pack_bytes": len(stored), "memory_errors": process.console_text().count("MemoryError")}


def ring_capacity(pack_bytes: int, workdir: Path) -> dict:
    ring = Ring(str(workdir / "ring"), RING_SEGMENTS, RING_BYTES // RING_SEGMENTS)
    pack = b"\x00" * pack_bytes
    for seq in range(20000):
        ring.append(1, seq, SYNCED, 1767225600 + 60 * seq, pack)
        if ring.dropped:
            break
    held = ring.buffered
    ring.close()
    return {"bytes_per_reading": reading_bytes(pack_bytes), "readings_in_256k": held,
            "hours_at_one_per_minute": round(held / 60, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object of named figures")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--seconds", type=float, default=6.0, help="steady-state run per role")
    args = parser.parse_args(argv)
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="rvb-bench-") as tmp:
        workdir = Path(tmp)
        runs = {role: run_board(board, args.host, args.port, args.seconds, workdir)
                for role, board in BOARDS.items()}
        for role, run in runs.items():
            figures[f"{role}_heap_data_bytes"] = run["heap_data"]
            figures[f"{role}_heap_total_bytes"] = run["heap_total"]
            figures[f"{role}_code_footprint_bytes"] = run["code_footprint"]
            figures[f"{role}_boot_to_first_data_s"] = run["first_data_s"]
            figures[f"{role}_memory_errors"] = run["memory_errors"]
        figures["luminaire_lifi_message_result"] = runs["luminaire"]["lifi_ack"]
        capacity = ring_capacity(runs["sensor"]["pack_bytes"], workdir)
        figures["sensor_stored_pack_bytes"] = runs["sensor"]["pack_bytes"]
        figures["ring_bytes_per_reading"] = capacity["bytes_per_reading"]
        figures["ring_readings_in_256k"] = capacity["readings_in_256k"]
        figures["ring_hours_at_one_per_minute"] = capacity["hours_at_one_per_minute"]
    if args.json:
        print(json.dumps(figures))
        return 0
    targets = {"sensor_heap_data_bytes": "<= 32768", "luminaire_heap_data_bytes": "<= 40960",
               "sensor_boot_to_first_data_s": "<= 1.5", "luminaire_boot_to_first_data_s": "<= 1.5",
               "ring_readings_in_256k": ">= 1440"}
    for name, value in figures.items():
        print(f"{name:36} {value:>10}   {targets.get(name, '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
