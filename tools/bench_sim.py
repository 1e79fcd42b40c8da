"""Simulator benchmarks (issue 5 targets): a fleet of boards running the real firmware, each with its own MQTT
connection; a broker restart under that fleet; the demo's time to first telemetry at the platform.

    python tools/bench_sim.py [--boards 1000] [--duration 600] [--outage-boards 1000] [--json]

Figures: reconciliation of the scale run (lost, duplicates must be 0), RSS per board (mean and max, sampled
from /proc while the fleet runs), CPU per board (user+sys of the board processes over the run), the
broker-restart run's reconciliation and the time its gateway took to catch up, and the demo's first data.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim import faults
from sim.fleet import FleetSpec, run_fleet


def _board_rss_kib(workdir: str) -> list[int]:
    """RSS of the live board processes whose working directory is under ``workdir``."""
    sizes = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if not os.readlink(f"/proc/{pid}/cwd").startswith(workdir):
                continue
            if b"firmware.main" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]))
        except OSError:
            continue
    return sizes


def scale_run(boards: int, duration_s: float, period_s: float, plan: str = "") -> dict:
    with tempfile.TemporaryDirectory(prefix="rvb-bench-") as workdir:
        samples: list[list[int]] = []
        stop = threading.Event()

        def sample():
            while not stop.wait(5.0):
                sizes = _board_rss_kib(workdir)
                if sizes:
                    samples.append(sizes)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        result = run_fleet(FleetSpec(nodes=boards, duration_s=duration_s, period_s=period_s,
                                     faults=faults.parse(plan), workdir=Path(workdir), drain_s=120.0))
        wall = time.monotonic() - started
        stop.set()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rss = max(samples, key=len) if samples else []
    return {
        "boards": boards, "duration_s": duration_s, "wall_s": round(wall, 1),
        "produced": result["produced"], "forwarded": result["forwarded"], "lost": result["lost"],
        "duplicates": result["duplicates"], "broker": result["broker"],
        "rss_per_board_kib_mean": round(sum(rss) / len(rss)) if rss else None,
        "rss_per_board_kib_max": max(rss) if rss else None,
        "cpu_s_per_board_minute": round(cpu / boards / (wall / 60), 3),
        "memory_errors": sum(b["memory_errors"] for b in result["boards"]),
    }


def demo_first_data(duration_s: float = 15.0) -> float | None:
    from sim.demo import run_demo
    return run_demo(duration_s, period_s=2.0).get("first_data_s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boards", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--period", type=float, default=5.0)
    parser.add_argument("--outage-boards", type=int, default=50)
    parser.add_argument("--no-demo", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = {"scale": scale_run(args.boards, args.duration, args.period)}
    outage_at = max(5.0, args.duration / 3)
    figures["broker_restart"] = scale_run(args.outage_boards, args.duration, args.period,
                                          "broker-outage@%g+10" % outage_at)
    if not args.no_demo:
        figures["demo_first_data_s"] = demo_first_data()
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print(name, json.dumps(value, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
