"""Measure deploy and provisioning against issue 7's targets: deploy of the sensor role to a simulated
board at 115200-baud-equivalent throttling <= 30 s, a re-deploy with no change <= 3 s; blank simulated
board -> provisioned -> online in the inventory <= 60 s with one command after deploy.

    python tools/bench_field.py [--json] [--runs N] [--deploy-runs N] [--online-runs N]

Deploy: a blank simulated board on a pty (sim/serial_board.py), the link throttled to what a 115200-baud
UART carries (10 bits a byte, both ways); the sensor role as sources and compiled with mpy-cross, then
the re-deploy of the compiled plan with nothing changed.

Each run starts the firmware's Improv responder under the micropython binary (64 KiB heap, modules
precompiled with mpy-cross as a deploy leaves them) on a pty, then times, through pyserial on the pty:
the full provisioning (Wi-Fi, identity, MQTT, read-back) and the registration in a SQLite inventory.
The radio is the tests' stand-in that joins at once, so the figure is the protocol and flash-write cost
only; a real Wi-Fi join adds its own seconds.

Blank to online, the whole field path against a running gateway (daemon on the local Mosquitto, SQLite
inventory, HTTP API; in this process): a blank simulated board on its pty, the sensor role deployed
compiled at 115200-baud-equivalent throttling without network settings (the board then waits for Improv),
then the ONE command, run as a technician would (a new `reverbere provision ... --wait-online --json`
process): Improv over the board's pty, registration through the API, and the wait until the gateway has
the node online. `provision_to_online_s` runs from that command's start to its result,
`blank_to_online_s` from the board's power-on; inside the command, `improv_and_register_s` (waiting for
the responder, Improv, registration) and `reset_to_online_s` (the node's reset, Wi-Fi and MQTT connection,
birth, the gateway's record). Prints a table, or with --json one JSON object.
"""

import argparse
import json
import re
import statistics
import subprocess
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


class ThrottledSerial:
    """A pyserial port that takes as long as a UART at ``baud`` to carry each byte."""

    def __init__(self, url: str, baud: int = 115200):
        import serial

        self._port = serial.serial_for_url(url, baudrate=baud, timeout=0.05)
        self._byte_s = 10.0 / baud

    def write(self, data: bytes) -> int:
        time.sleep(len(data) * self._byte_s)
        return self._port.write(data)

    def read(self, size: int = 1) -> bytes:
        data = self._port.read(size)
        time.sleep(len(data) * self._byte_s)
        return data

    def __getattr__(self, name):
        return getattr(self._port, name)


def deploy_run() -> dict:
    from boards.loader import load_named
    from gateway.field.deploy import deploy, make_plan
    from gateway.field.rawrepl import RawRepl
    from sim.serial_board import SerialBoard, prepare_blank

    figures = {}
    board_def = load_named("esp32-devkitc-sensor")
    for label, mpy in (("source", False), ("mpy", True)):
        plan = make_plan(board_def, device_id="bench-1", site="bench", mpy=mpy)
        with tempfile.TemporaryDirectory() as tmp:
            board = SerialBoard(prepare_blank(Path(tmp) / "flash")).start()
            try:
                with RawRepl(ThrottledSerial(board.port)) as repl:
                    started = time.perf_counter()
                    deploy(repl, plan, reset=False)
                    figures["deploy_%s_s" % label] = time.perf_counter() - started
                    figures["deploy_%s_bytes" % label] = plan.size
                    started = time.perf_counter()
                    again = deploy(repl, plan, reset=False)
                    figures["redeploy_%s_s" % label] = time.perf_counter() - started
                    assert again["written"] == [], again
            finally:
                board.close()
    return figures


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


def online_run(index: int) -> dict:
    from deploykit import BOARD, blank_board, unique_site
    from gatewaykit import TOKEN, RunningGateway

    from boards.loader import load_named
    from gateway.field.deploy import deploy, make_plan
    from gateway.field.rawrepl import RawRepl

    plan = make_plan(load_named(BOARD), mpy=True)   # compiled before the clock starts, as a laptop caches it
    with tempfile.TemporaryDirectory() as tmp:
        gateway = RunningGateway(Path(tmp), unique_site())
        board = None
        try:
            started = time.perf_counter()
            board = blank_board(Path(tmp) / "flash")
            with RawRepl(ThrottledSerial(board.port)) as repl:
                deploy(repl, plan, reset=True)
            deployed = time.perf_counter()
            node = "bench-online-%d" % index
            command = [sys.executable, "-m", "gateway.cli.main", "provision", "--port", board.port,
                       "--ssid", "street", "--password", "lamp-post", "--device-id", node,
                       "--site", gateway.site,
                       "--lat", "50.6372", "--lon", "3.0633", "--asset", "bench-" + node,
                       "--mqtt-url", "mqtt://127.0.0.1:1883", "--gateway-api", gateway.url, "--token", TOKEN,
                       "--wait-online", "60", "--json"]
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
            online = time.perf_counter()
            if done.returncode != 0:
                raise RuntimeError("provision failed (%d): %s\n%s" % (done.returncode, done.stderr[-2000:],
                                                                     board.console_text()[-2000:]))
            result = json.loads(done.stdout)
            assert result["liveness"] == "online", result
        finally:
            if board is not None:
                board.close()
            gateway.close()
    # The command's own progress lines time its steps: Improv and registration end where the wait starts.
    waited_from = re.search(r"waiting for \S+ online \((\d+\.\d+) s\)", done.stderr)
    improv_s = float(waited_from.group(1)) if waited_from else float("nan")
    return {"online_deploy_s": deployed - started, "provision_to_online_s": online - deployed,
            "provision_in_command_s": result["seconds"], "improv_and_register_s": improv_s,
            "reset_to_online_s": result["seconds"] - improv_s, "blank_to_online_s": online - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--deploy-runs", type=int, default=1)
    parser.add_argument("--online-runs", type=int, default=3)
    args = parser.parse_args()
    onlines = []
    for i in range(args.online_runs):
        onlines.append(online_run(i))
        print("blank to online run %d: %.3f s" % (i + 1, onlines[-1]["blank_to_online_s"]), file=sys.stderr)
    deploys = []
    for i in range(args.deploy_runs):
        deploys.append(deploy_run())
        print("deploy run %d: %.3f s (mpy)" % (i + 1, deploys[-1]["deploy_mpy_s"]), file=sys.stderr)
    runs = []
    for i in range(args.runs):
        runs.append(one_run(i))
        print("run %d: %.3f s" % (i + 1, runs[-1]["total_s"]), file=sys.stderr)
    figures = {"runs": args.runs}
    for key in ("start_s", "provision_s", "register_s", "total_s"):
        figures[key + "_median"] = round(statistics.median(r[key] for r in runs), 4)
    figures["total_s_max"] = round(max(r["total_s"] for r in runs), 4)
    figures["target_total_s"] = 60
    figures["online_runs"] = args.online_runs
    for key in sorted(onlines[0]) if onlines else ():
        figures[key + "_median"] = round(statistics.median(r[key] for r in onlines), 3)
        figures[key + "_max"] = round(max(r[key] for r in onlines), 3)
    figures["target_blank_to_online_s"] = 60
    for key in sorted(deploys[0]) if deploys else ():
        figures[key + ("" if key.endswith("_bytes") else "_max")] = round(max(d[key] for d in deploys), 3)
    figures["target_deploy_s"] = 30
    figures["target_redeploy_s"] = 3
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print("%-22s %s" % (key, value))


if __name__ == "__main__":
    main()
