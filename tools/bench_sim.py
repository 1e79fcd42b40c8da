"""Simulator benchmarks (issue 5 targets): a fleet of boards running the real firmware, each with its own MQTT
connection, for a run of simulated minutes; a broker restart under such a fleet; the demo's time to first
telemetry at the platform.

    python tools/bench_sim.py [--boards 1000] [--duration 600] [--period 60]
                              [--outage-boards 1000] [--outage-s 10] [--outage-period 10] [--json]

Scale run: reconciliation (lost and duplicates must be 0), RSS and PSS per board (/proc/<pid>/smaps_rollup,
sampled while the fleet runs), CPU of the boards (utime+stime of their processes: until every board has
sent its birth, and per board-minute after that), the broker's, the gateway's and this process's CPU, and
the boot time (process start to its birth seen by the observer).

Broker restart: once every board is connected, the private Mosquitto is stopped for --outage-s and started
again; figures: seconds from the restart until every board is back (its next birth), until every reading
buffered meanwhile reached the broker (each board's sequence numbers dense and a reading after the
restart), until the platform held all of them; peak connections per second and the spread of the
reconnections (from the broker's connection log), and the run's reconciliation.

A board is one unix-port MicroPython process; the machine's cores decide how many it sustains: see the
figures ``cpu_s_per_board_minute`` (steady state) and ``pss_per_board_kib``.
"""

from __future__ import annotations

import argparse
import collections
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
from sim.fleet import Fleet, FleetSpec, run_fleet

CLOCK_TICK = os.sysconf("SC_CLK_TCK")
SAMPLE_S = 5.0


def raise_open_files() -> int:
    """A thousand boards are a thousand sockets in the broker and the observer: lift the soft limit to the
    hard one (children such as the private Mosquitto inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _boot_epoch() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime"):
            return float(line.split()[1])
    raise RuntimeError("/proc/stat has no btime")


def proc_times(pid: int) -> tuple[float, float] | None:
    """-> (CPU seconds used, start time as epoch seconds) of a live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK, _BOOT_EPOCH + int(fields[19]) / CLOCK_TICK


def proc_memory_kib(pid: int) -> tuple[int, int] | None:
    """-> (RSS, PSS) in KiB: PSS shares each library page among the processes mapping it."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    sizes = {}
    for line in rollup.splitlines():
        key, _, value = line.partition(":")
        if key in ("Rss", "Pss"):
            sizes[key] = int(value.split()[0])
    return sizes.get("Rss", 0), sizes.get("Pss", 0)


_BOOT_EPOCH = _boot_epoch()


class FleetWatch:
    """Samples a running fleet from the side: board CPU and memory, when each board came up, and (with an
    outage) how the fleet came back after the broker restarted."""

    def __init__(self) -> None:
        self.fleet: Fleet | None = None
        self.stop = threading.Event()
        self.cpu: dict[int, float] = {}          # board pid -> latest CPU seconds (dead ones keep theirs)
        self.started_at: dict[int, float] = {}   # board pid -> epoch of its process start
        self.memory: list[list[tuple[int, int]]] = []
        self.fleet_up: float | None = None       # epoch when every board had sent a birth
        self.cpu_at_up = 0.0
        self.boards_seen = 0.0                   # epoch of the last sample that found a live board
        self.outage: tuple[float, float] | None = None   # epoch of broker stop, restart
        self.recovery: dict[str, float | None] = {}
        self.other_cpu: dict[tuple[str, int], float] = {}   # (broker|gateway, pid) -> CPU seconds
        self._own_cpu = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        self._next_memory = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, fleet: Fleet) -> None:
        """Start sampling ``fleet`` (run_fleet's on_start); note when its broker stops and restarts."""
        self.fleet = fleet
        begin, end = fleet.begin, fleet.end

        def begin_noted(fault) -> None:
            begin(fault)
            if fault.kind == "broker-outage":
                self.outage = (time.time(), 0.0)

        def end_noted(fault) -> None:
            end(fault)  # returns once the broker answers again
            if fault.kind == "broker-outage" and self.outage:
                self.outage = (self.outage[0], time.time())
        fleet.begin, fleet.end = begin_noted, end_noted  # type: ignore[method-assign]
        self._thread.start()

    def _other_pids(self) -> dict[str, int | None]:
        broker_proc = getattr(self.fleet.broker, "_proc", None)
        return {"broker": broker_proc.pid if broker_proc is not None else None,
                "gateway": getattr(self.fleet.gateway, "pid", None)}

    # sampling
    def board_cpu(self) -> float:
        for board in list(self.fleet.boards.values()):
            pid = board.pid
            times = proc_times(pid) if pid else None
            if times:
                self.cpu[pid] = times[0]
                self.started_at.setdefault(pid, times[1])
                self.boards_seen = time.time()
        return sum(self.cpu.values())

    def _run(self) -> None:
        # Once a second: reading /proc for a thousand boards costs this process a few ms each time.
        while not self.stop.wait(1.0):
            try:
                self._sample()
            except RuntimeError:
                pass  # the observer's thread changed a set or dict under us: sample again next second

    def _sample(self) -> None:
        now = time.time()
        cpu = self.board_cpu()
        for name, pid in self._other_pids().items():
            times = proc_times(pid) if pid else None
            if times:
                self.other_cpu[(name, pid)] = times[0]
        views = self.fleet.observer.boards
        ids = list(self.fleet.boards)
        if self.fleet_up is None and len(ids) == len(self.fleet.spec.board_ids()) and all(
                views.get(board_id) is not None and views[board_id].births for board_id in ids):
            self.fleet_up, self.cpu_at_up = now, cpu
        if now >= self._next_memory:
            self._next_memory = now + SAMPLE_S
            sizes = [proc_memory_kib(board.pid) for board in list(self.fleet.boards.values()) if board.pid]
            self.memory.append([size for size in sizes if size])
        if self.outage and self.outage[1]:
            self._recovery(self.outage[1], now)

    def _recovery(self, restart: float, now: float) -> None:
        """Fill in, once each, the seconds from the broker restart to: every board back; every board's
        buffered readings at the broker (dense sequence numbers, one reading after the restart); the
        platform holding all readings produced."""
        views = self.fleet.observer.boards
        ids = list(self.fleet.boards)
        if "all_back_s" not in self.recovery:
            back = [min((t for t in views[b].births if t >= restart), default=None) if b in views else None
                    for b in ids]
            if all(t is not None for t in back):
                self.recovery["all_back_s"] = round(max(back) - restart, 2)
        if ("all_back_s" in self.recovery and "buffered_at_broker_s" not in self.recovery
                and all(views[b].last_data >= restart and _dense(views[b].data_seqs) for b in ids)):
            self.recovery["buffered_at_broker_s"] = round(now - restart, 2)
        if ("buffered_at_broker_s" in self.recovery and "all_forwarded_s" not in self.recovery
                and self.fleet.forwarded()[0] >= self.fleet.observer.produced()):
            self.recovery["all_forwarded_s"] = round(now - restart, 2)

    def figures(self, boards: int) -> dict:
        memory = max(self.memory, key=len) if self.memory else []
        rss = [r for r, _ in memory]
        pss = [p for _, p in memory]
        cpu = sum(self.cpu.values())
        views = self.fleet.observer.boards
        boot = []
        for board in self.fleet.boards.values():
            view = views.get(board.board_dir.name)
            started = self.started_at.get(board.pid) if board.pid else None
            if view and view.births and started and board.starts == 1:
                boot.append(view.births[0] - started)
        boot.sort()
        out = {
            "rss_per_board_kib_mean": round(sum(rss) / len(rss)) if rss else None,
            "rss_per_board_kib_max": max(rss) if rss else None,
            "pss_per_board_kib_mean": round(sum(pss) / len(pss)) if pss else None,
            "pss_boards_total_mib": round(sum(pss) / 1024) if pss else None,
            "boot_s_median": round(boot[len(boot) // 2], 2) if boot else None,
            "boot_s_max": round(boot[-1], 2) if boot else None,
            "fleet_up_s": None, "cpu_s_per_board_boot": None, "cpu_s_per_board_minute": None,
            "cpu_s_broker": round(sum(c for (name, _), c in self.other_cpu.items() if name == "broker"), 1),
            "cpu_s_gateway": round(sum(c for (name, _), c in self.other_cpu.items() if name == "gateway"), 1),
            # Observer, platform, fleet runner and this sampling: what the fleet costs outside the boards.
            "cpu_s_bench_process": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - self._own_cpu, 1),
        }
        if self.fleet_up is not None:
            first_start = min(self.started_at.values()) if self.started_at else self.fleet_up
            out["fleet_up_s"] = round(self.fleet_up - first_start, 1)
            # CPU until the whole fleet is up: boots, plus the first boards' running while the rest start.
            out["cpu_s_per_board_boot"] = round(self.cpu_at_up / boards, 3)
            steady_min = (self.boards_seen - self.fleet_up) / 60
            if steady_min > 0:
                out["cpu_s_per_board_minute"] = round((cpu - self.cpu_at_up) / boards / steady_min, 3)
        return out


def _dense(seqs_by_boot: dict[int, set[int]]) -> bool:
    return all(len(seqs) == max(seqs) + 1 for seqs in seqs_by_boot.values() if seqs)


def connect_figures(fleet: Fleet, since: float) -> dict:
    """Peak board connections per second and their spread after ``since``, from the broker's log."""
    connects = getattr(fleet.broker, "connects", None)
    if connects is None:
        return {}
    boards = set(fleet.boards)
    stamps = sorted(t for t, client in connects() if t >= int(since) and client in boards)
    if not stamps:
        return {"reconnects": 0}
    per_second = collections.Counter(stamps)
    return {"reconnects": len(stamps), "peak_connects_per_s": max(per_second.values()),
            "reconnect_spread_s": stamps[-1] - stamps[0],
            "reconnect_p50_s": stamps[len(stamps) // 2] - int(since),
            "reconnect_p90_s": stamps[len(stamps) * 9 // 10] - int(since)}


def run(boards: int, duration_s: float, period_s: float, plan: str = "", accel: float = 1.0,
        drain_s: float = 120.0) -> dict:
    watch = FleetWatch()
    with tempfile.TemporaryDirectory(prefix="rvb-bench-") as workdir:
        spec = FleetSpec(nodes=boards, duration_s=duration_s, period_s=period_s, accel=accel,
                         faults=faults.parse(plan), workdir=Path(workdir), drain_s=drain_s, broker="mosquitto")
        started = time.monotonic()
        figures: dict = {}

        def on_start(fleet: Fleet) -> None:
            watch.watch(fleet)
            # Read the board-side figures before run_fleet powers the boards off and closes the broker.
            original_close = fleet.close

            def close() -> None:
                watch.stop.set()
                figures.update(watch.figures(boards))
                if watch.outage:
                    figures.update(connect_figures(fleet, watch.outage[1]))
                original_close()
            fleet.close = close  # type: ignore[method-assign]

        result = run_fleet(spec, on_start=on_start)
        wall = time.monotonic() - started
    out = {"boards": boards, "simulated_minutes": round(duration_s / 60, 2), "period_s": period_s,
           "accel": accel, "wall_s": round(wall, 1)}
    for key in ("produced", "received", "forwarded", "lost", "duplicates", "dropped_counted", "broker"):
        out[key] = result.get(key)
    out["restarts"] = sum(b["restarts"] for b in result["boards"])
    out["memory_errors"] = sum(b["memory_errors"] for b in result["boards"])
    out.update(figures)
    if watch.outage:
        out["outage"] = plan
        out.update(watch.recovery)
    return out


def demo_first_data(duration_s: float = 15.0) -> float | None:
    from sim.demo import run_demo
    return run_demo(duration_s, period_s=2.0).get("first_data_s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boards", type=int, default=50, help="boards in the scale run (0: skip it)")
    parser.add_argument("--duration", type=float, default=600.0, help="simulated seconds of the scale run")
    parser.add_argument("--period", type=float, default=60.0, help="boards' reading period in the scale run")
    parser.add_argument("--accel", type=float, default=1.0, help="time acceleration of both runs")
    parser.add_argument("--outage-boards", type=int, default=50, help="boards in the broker restart (0: skip)")
    parser.add_argument("--outage-at", type=float, default=None,
                        help="simulated second the broker stops (default: 30 s + 0.1 s per board)")
    parser.add_argument("--outage-s", type=float, default=10.0, help="how long the broker stays down")
    parser.add_argument("--outage-period", type=float, default=10.0, help="reading period in the restart run")
    parser.add_argument("--no-demo", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures: dict = {"open_files_limit": raise_open_files()}
    if args.boards:
        figures["scale"] = run(args.boards, args.duration, args.period, accel=args.accel)
    if args.outage_boards:
        outage_at = args.outage_at if args.outage_at is not None else 30.0 + 0.1 * args.outage_boards
        # After the restart: a full backoff ceiling (60 s) for the last board, then its replay.
        duration = outage_at + args.outage_s + 90.0
        figures["broker_restart"] = run(args.outage_boards, duration, args.outage_period,
                                        f"broker-outage@{outage_at:g}+{args.outage_s:g}", accel=args.accel)
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
