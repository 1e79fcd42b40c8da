"""End-to-end LiFi beacons through the simulator's optical medium: luminaires and receivers running the
real firmware (MicroPython unix port, 64 KB data heap) with the local broker (127.0.0.1:1883) and a
gateway holding the beacon master key, for `--duration` seconds, at night (the boards' world is pinned
to 21:00 UTC so the lamps are lit); each receiver stands under a luminaire.

Figures: beacons the luminaires sent, the receivers decoded, the gateway verified (coverage counts in
the inventory) and the luminaires covered; the receivers' listening bursts and decoded beacons per
burst (a burst of 6,144 samples at 16 kS/s holds one whole 175 ms beacon at best, so ~0.8 is the
ceiling at a 250 ms beacon period); the medium's CPU time and its share of one core, the transmissions it got late
or never, the blocks the receivers missed, MemoryErrors on the boards' consoles.

    .venv/bin/python tools/bench_optical.py --duration 60 [--luminaires 1 --receivers 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gateway.config import GatewayConfig
from gateway.daemon import Daemon
from protocols import messages
from sim.board_process import BoardProcess, node_config, prepare
from sim.lifi.street import OpticalStreet, books, master_key
from sim.observer import SequenceObserver

NIGHT = 1767236400 - 3 * 3600  # 21:00 UTC: the world of the boards is dark, the lamps lit


def measure(duration_s: float, luminaires: int, receivers: int, seed: int = 1,
            broker: tuple[str, int] = ("127.0.0.1", 1883)) -> dict:
    host, port = broker
    site = "bench-optical-%d" % (time.time_ns() % 10**9)
    ids = [("lum-%03d" % i, "luminaire", "luminaire-controller") for i in range(luminaires)]
    ids += [("rx-%03d" % i, "lifi-rx", "lifi-receiver") for i in range(receivers)]
    with tempfile.TemporaryDirectory(prefix="rvb-bench-optical-") as scratch:
        root = Path(scratch)
        key = master_key(seed)
        street = OpticalStreet.along(root / "optical", key, [(b, r) for b, r, _ in ids], seed=seed)
        daemon = Daemon(GatewayConfig(broker="mqtt://%s:%d" % broker, client_id="rvb-%s" % site, sites=(site,),
                                      db="sqlite:///%s" % (root / "inventory.db"),
                                      forward=("file://%s" % (root / "north.jsonl"),), auto_approve=True,
                                      default_period_s=2.0, http=None, session_expiry_s=0,
                                      lifi_master_key=key.hex()))
        gateway = threading.Thread(target=daemon.run, daemon=True)
        gateway.start()
        observer = SequenceObserver(host, port, site)
        boards = []
        try:
            deadline = time.monotonic() + 20
            while (daemon.ingest is None or not daemon.ingest.wait_subscribed(0.1)) and time.monotonic() < deadline:
                time.sleep(0.05)
            street.start()
            for index, (board_id, _, board) in enumerate(ids):
                cfg = node_config(board, site, host, port, node_id=board_id, period=2.0, status_period=2.0)
                board_dir = prepare(root / board_id, cfg, seed=seed * 1000 + index)
                wiring = json.loads((board_dir / "sim.json").read_text())
                wiring["world_time"] = NIGHT
                (board_dir / "sim.json").write_text(json.dumps(wiring))
                street.wire(board_dir, board_id)
                boards.append(BoardProcess(board_dir).start())
            time.sleep(duration_s)
            time.sleep(2.5)  # the boards' last status (sent every 2 s) reports the whole run
        finally:
            for board in boards:
                board.kill()
            street.close()
            memory_errors = sum(board.console_text().count("MemoryError") for board in boards)
            statuses = {node: (view.role, view.last_status.get(messages.EXT) or {})
                        for node, view in observer.boards.items()}
            rows = [(d["id"], d["role"], d["lifi"]) for d in daemon.store.list_devices()] if daemon.store else []
            observer.close()
            daemon.stop()
            gateway.join(timeout=10)
        medium = street.stats()
    lifi = books(statuses, rows)
    burst_counts = [int(rx.get("board", {}).get("bursts", 0)) for rx in medium["receivers"].values()]
    bursts = sum(burst_counts)
    return {
        "duration_s": duration_s,
        "luminaires": luminaires,
        "receivers": receivers,
        "beacons_sent": lifi["beacons_sent"],
        "beacons_decoded": lifi["beacons_decoded"],
        "beacons_verified": lifi["beacons_verified"],
        "luminaires_covered": lifi["luminaires_covered"],
        "receiver_bursts": bursts,
        "decoded_per_burst": round(lifi["beacons_decoded"] / bursts, 3) if bursts else None,
        "decoded_per_s": round(lifi["beacons_decoded"] / duration_s, 3),
        "medium_cpu_s": medium.get("cpu_s"),
        "medium_wall_s": medium.get("wall_s"),
        "medium_cpu_share": round(medium["cpu_s"] / medium["wall_s"], 4) if medium.get("wall_s") else None,
        "medium_late": sum(lamp["late"] for lamp in medium["lamps"].values()),
        "medium_lost": sum(lamp["lost"] for lamp in medium["lamps"].values()),
        "receiver_gaps": sum(int(rx.get("board", {}).get("gaps", 0)) for rx in medium["receivers"].values()),
        "memory_errors": memory_errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--luminaires", type=int, default=1)
    parser.add_argument("--receivers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object of named figures")
    args = parser.parse_args(argv)
    figures = measure(args.duration, args.luminaires, args.receivers, args.seed)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print("%-20s %s" % (key, value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
