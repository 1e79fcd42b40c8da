"""Every role for a simulated day under the fleet's heap (issue #3 item 9): one sensor node, one luminaire
and one LiFi receiver run the real firmware for 24 simulated hours at high time acceleration, with a
64 KB RAM budget each (``-X heapsize`` = that plus the code footprint a board keeps in flash, see
sim/board_process.code_footprint). Prints, per board, MemoryErrors on its console, restarts and the heap
high-water mark from its status messages (as reported, and less the code footprint), and the fleet's
reconciliation.

    python tools/sim_day.py                      # 24 h at x600: ~144 s of run, plus start and drain
    python tools/sim_day.py --hours 2 --json     # shorter, one JSON object on stdout
    python tools/sim_day.py --workdir /tmp/day   # keep each board's console.log (MemoryError traces)

Exit status 1 when a board ran out of memory or restarted, or a reading was lost or duplicated.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.board_process import _heap_bytes, code_footprint
from sim.fleet import FleetSpec, run_fleet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    parser.add_argument("--accel", type=float, default=600.0, help="time acceleration (default 600)")
    parser.add_argument("--heap", default="64K", help="RAM budget of each board (default 64K)")
    parser.add_argument("--period", type=float, default=60.0, help="reporting period, simulated s")
    parser.add_argument("--json", action="store_true", help="print one JSON object of named figures")
    parser.add_argument("--workdir", default=None, help="keep the boards' flash, consoles and logs here")
    args = parser.parse_args(argv)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rvb-simday-") as scratch:
        if args.workdir:
            scratch = args.workdir
        spec = FleetSpec(nodes=1, luminaires=1, receivers=1, duration_s=args.hours * 3600, heap=args.heap,
                         period_s=args.period, accel=args.accel, workdir=Path(scratch))
        ticks = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
        result = run_fleet(spec, on_tick=ticks)
        footprints = {}
        for board in result["boards"]:
            cfg = json.loads((Path(scratch) / board["id"] / "config.json").read_text())
            footprints[board["id"]] = code_footprint(cfg, accelerated=args.accel != 1.0)
    boards = [dict(board, code_footprint_bytes=footprints[board["id"]],
                   heap_peak_data_bytes=max(board["heap_peak_bytes"] - footprints[board["id"]], 0))
              for board in result["boards"]]
    figures = {
        "simulated_hours": args.hours, "accel": args.accel, "heap_budget_bytes": _heap_bytes(args.heap),
        "real_s": round(time.monotonic() - started, 1),
        "produced": result["produced"], "forwarded": result["forwarded"], "lost": result["lost"],
        "duplicates": result["duplicates"], "memory_errors": sum(b["memory_errors"] for b in boards),
        "restarts": sum(b["restarts"] for b in boards), "boards": boards,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print("%g simulated hours at x%g in %.0f s: produced %d, forwarded %d, lost %d, duplicates %d"
              % (args.hours, args.accel, figures["real_s"], figures["produced"], figures["forwarded"],
                 figures["lost"], figures["duplicates"]))
        for b in boards:
            print("  %-8s %-10s heap peak %6d B (data %6d B of %d, code %6d B)  restarts %d  memory errors %d"
                  % (b["id"], b["role"], b["heap_peak_bytes"], b["heap_peak_data_bytes"],
                     figures["heap_budget_bytes"], b["code_footprint_bytes"], b["restarts"],
                     b["memory_errors"]))
    failed = figures["memory_errors"] or figures["restarts"] or figures["lost"] or figures["duplicates"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
