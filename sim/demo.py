"""A small street, end to end, on embedded defaults: simulated boards running the real firmware, the local
MQTT broker, a gateway with a SQLite inventory, and a fake NGSI-LD urban platform.

`run_demo()` brings everything up in a scratch directory, shows what happens while it runs, then stops the
boards, lets the gateway drain its outbox and returns the reconciliation: what the boards produced (from their
data sequence numbers, seen by an observer independent of the gateway), what the gateway received, what the
platform accepted, and what was lost or duplicated on the way.

LiFi: the luminaires beacon through the light (per-lamp keys derived from the run's master key, which
the gateway holds), an optical medium process (sim/lifi/medium.py) carries their light to the receiver
standing under the first luminaire, and the books add `lifi`: beacons the lamps sent, the receiver
decoded, the gateway verified, and the luminaires covered in the inventory. The street's world is
pinned to an evening (EVENING_UTC_H) so the lamps are lit: a lamp switched off by daylight sends no
light, hence no beacons.
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

from gateway.config import GatewayConfig
from gateway.daemon import Daemon
from gateway.errors import Unavailable
from protocols import messages
from sim.board_process import BoardProcess, node_config, prepare
from sim.lifi import street as lifi_street
from sim.observer import SequenceObserver
from sim.platform.server import FakePlatform

# (board definition, how many) of the demo street.
STREET = (("esp32-devkitc-sensor", 3), ("luminaire-controller", 2), ("lifi-receiver", 1))
DEMO_SITE = "demo-street"
# The demo street's position (a square in Lille): boards are placed around it, [lon, lat].
ORIGIN = (3.0630, 50.6365)
LON_STEP = 0.0004          # between boards: ~28 m at Lille's latitude
METRES_PER_LON_STEP = 28.3
RECEIVER_OFFSET_M = 1.0    # the receiver stands this far from the first luminaire's mast
EVENING_UTC_H = 19         # the street's world starts at 20:00 in Lille (CET)
SEED = 1


def broker_reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def forwarded_readings(platform: FakePlatform) -> tuple[int, int]:
    """(readings accepted by the platform, readings it received more than once).

    Observation entity ids are `urn:ngsi-ld:<Type>:<node_id>[:<quantity>]` and one reading becomes several
    entities, all with the reading's time, so a reading is a distinct (node, observedAt)."""
    per_reading: dict[tuple[str, str], int] = defaultdict(int)
    for (entity_id, observed_at), count in platform.observation_counts().items():
        parts = entity_id.split(":")
        if len(parts) >= 4 and parts[2] != "Device":
            key = (parts[3], observed_at)
            per_reading[key] = max(per_reading[key], count)
    return len(per_reading), sum(count - 1 for count in per_reading.values())


def run_demo(
    duration_s: float,
    period_s: float = 2.0,
    broker: tuple[str, int] = ("127.0.0.1", 1883),
    workdir: Path | None = None,
    on_tick: Callable[[dict], None] | None = None,
) -> dict:
    """Run the demo street for `duration_s` seconds (forever when 0 until KeyboardInterrupt) and return the
    reconciliation. `on_tick(snapshot)` is called about once a second with live figures."""
    host, port = broker
    if not broker_reachable(host, port):
        raise Unavailable("no MQTT broker at %s:%d (start mosquitto, or pass --broker)" % (host, port))
    scratch = tempfile.TemporaryDirectory(prefix="rvb-demo-") if workdir is None else None
    root = Path(scratch.name) if scratch else Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    site = "%s-%d" % (DEMO_SITE, int(time.time()) % 100000)
    started = time.monotonic()
    platform = FakePlatform().start()
    northbound = root / "northbound.jsonl"
    config = GatewayConfig(
        broker="mqtt://%s:%d" % (host, port),
        client_id="rvb-demo-gateway-%s" % site,
        sites=(site,),
        db="sqlite:///%s" % (root / "inventory.db"),
        forward=(platform.forward_url, "file://%s" % northbound),
        auto_approve=True,
        default_period_s=period_s,
        http=None,
        session_expiry_s=0,
        lifi_master_key=lifi_street.master_key(SEED).hex(),
    )
    daemon = Daemon(config)
    gateway = threading.Thread(target=daemon.run, name="gateway", daemon=True)
    gateway.start()
    _wait_gateway_subscribed(daemon, timeout_s=20.0)
    observer = SequenceObserver(host, port, site)
    first_data_s: float | None = None
    boards: dict[str, BoardProcess] = {}
    positions: dict[str, list[float]] = {}
    street = _optical_street(root)
    evening = _evening()
    try:
        street.start()
        for index, (board, count) in enumerate(_street()):
            node_id = "%s-%d" % (board.split("-")[0], count)
            cfg = node_config(board, site, host, port, node_id=node_id, period=period_s,
                              status_period=period_s * 2)
            positions[node_id] = _position(street, node_id, index)
            board_dir = prepare(root / node_id, cfg, seed=index + 1)
            _pin_world_time(board_dir, evening)
            street.wire(board_dir, node_id)
            boards[node_id] = BoardProcess(board_dir).start()
        deadline = started + duration_s if duration_s else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(1.0)
            _survey(daemon, positions)
            if first_data_s is None and forwarded_readings(platform)[0]:
                first_data_s = round(time.monotonic() - started, 1)
            if on_tick:
                snapshot = _snapshot(daemon, platform, observer, northbound, started)
                on_tick(dict(snapshot, first_data_s=first_data_s,
                             lifi=_lifi_books(daemon, _lifi_statuses(observer))))
    except KeyboardInterrupt:
        pass
    finally:
        lifi_statuses = _lifi_statuses(observer)  # before a killed board's will replaces its last status
        for process in boards.values():
            process.kill()
        street.close()
        produced = observer.produced()
        _drain(daemon, platform, produced, timeout_s=15.0)
        result = _reconcile(daemon, platform, observer, boards, northbound, produced)
        result["first_data_s"] = first_data_s
        result["lifi"] = dict(_lifi_books(daemon, lifi_statuses), medium=_medium_books(street.stats()))
        observer.close()
        daemon.stop()
        gateway.join(timeout=10)
        platform.stop()
        if scratch:
            scratch.cleanup()
    return result


def _street_ids():
    for board, count in _street():
        yield "%s-%d" % (board.split("-")[0], count), board


def _optical_street(root: Path) -> lifi_street.OpticalStreet:
    """Luminaires at their survey positions along the street, the receiver under the first one."""
    street = lifi_street.OpticalStreet(root / "optical", lifi_street.master_key(SEED), seed=SEED)
    lamps = []
    for index, (node_id, board) in enumerate(_street_ids()):
        if board == "luminaire-controller":
            lamps.append(lifi_street.LampSpec(node_id, x_m=index * METRES_PER_LON_STEP))
    street.lamps = lamps
    street.receivers = [lifi_street.ReceiverSpec(node_id, x_m=lamps[k % len(lamps)].x_m + RECEIVER_OFFSET_M)
                        for k, node_id in enumerate(n for n, board in _street_ids() if board == "lifi-receiver")]
    return street


def _position(street: lifi_street.OpticalStreet, node_id: str, index: int) -> list[float]:
    """[lon, lat] of a board: receivers where the optical street put them, the others one step apart."""
    for rx in street.receivers:
        if rx.id == node_id:
            return [round(ORIGIN[0] + LON_STEP * rx.x_m / METRES_PER_LON_STEP, 6), ORIGIN[1]]
    return [round(ORIGIN[0] + LON_STEP * index, 6), ORIGIN[1]]


def _evening() -> int:
    """Epoch of today's EVENING_UTC_H:00 UTC."""
    now = int(time.time())
    return now - now % 86400 + EVENING_UTC_H * 3600


def _pin_world_time(board_dir: Path, epoch: int) -> None:
    path = board_dir / "sim.json"
    wiring = json.loads(path.read_text())
    wiring["world_time"] = epoch
    tmp = path.with_name("sim.json.tmp")
    tmp.write_text(json.dumps(wiring))
    tmp.replace(path)


def _lifi_statuses(observer: SequenceObserver) -> dict[str, tuple[str, dict]]:
    return {node: (view.role, view.last_status.get(messages.EXT) or {}) for node, view in observer.boards.items()}


def _lifi_books(daemon: Daemon, statuses: dict[str, tuple[str, dict]]) -> dict:
    rows = [(d["id"], d["role"], d["lifi"]) for d in daemon.store.list_devices()] if daemon.store else []
    core = daemon.ingest.core if daemon.ingest is not None else None
    verified = core.coverage.counts["accepted"] if core is not None and core.coverage is not None else None
    return lifi_street.books(statuses, rows, verified)


def _medium_books(stats: dict) -> dict:
    return {key: stats.get(key) for key in ("cpu_s", "wall_s", "datagrams", "bad")}


def _wait_gateway_subscribed(daemon: Daemon, timeout_s: float) -> None:
    """Boards are powered on only once the gateway listens: the demo's gateway starts with a fresh session,
    so what a board published before would not reach it (a deployed gateway keeps its broker session)."""
    deadline = time.monotonic() + timeout_s
    while daemon.ingest is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if daemon.ingest is None or not daemon.ingest.wait_subscribed(max(deadline - time.monotonic(), 0.0)):
        daemon.stop()
        raise Unavailable("the gateway did not subscribe to the broker within %.0f s" % timeout_s)


def _street():
    for board, count in STREET:
        for number in range(1, count + 1):
            yield board, number


def _survey(daemon: Daemon, positions: dict[str, list[float]]) -> None:
    """Record the street furniture's positions as a technician would when a device first appears."""
    for device in daemon.store.list_devices():
        if device["id"] in positions and device["lon"] is None:
            daemon.store.edit(device["id"], location=positions[device["id"]], asset="lamp-post")


def sink_readings(northbound: Path) -> Iterator[tuple[tuple[str, int, int], int]]:
    """((node, boot, seq), outbox id) of each observation in the gateway's JSON-lines sink."""
    try:
        lines = northbound.read_text().splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        try:
            envelope = json.loads(line)
        except ValueError:
            continue  # the line being appended right now
        if envelope.get("kind") == "observation":
            payload = envelope["payload"]
            yield (payload["node_id"], payload["boot"], payload["seq"]), envelope["id"]


def received_readings(northbound: Path) -> int:
    """Distinct readings the gateway accepted and wrote durably: observations in its JSON-lines sink."""
    return len({reading for reading, _ in sink_readings(northbound)})


def _drain(daemon: Daemon, platform: FakePlatform, produced: int, timeout_s: float) -> None:
    """Give the gateway time to forward what it received before the books are closed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and forwarded_readings(platform)[0] < produced:
        time.sleep(0.2)


def _snapshot(
    daemon: Daemon, platform: FakePlatform, observer: SequenceObserver, northbound: Path, started: float
) -> dict:
    devices = daemon.store.count_by("state") if daemon.store else {}
    forwarded, _ = forwarded_readings(platform)
    return {
        "elapsed_s": round(time.monotonic() - started, 1),
        "devices": devices,
        "produced": observer.produced(),
        "received": received_readings(northbound),
        "forwarded": forwarded,
    }


def _reconcile(daemon, platform, observer, boards, northbound, produced) -> dict:
    forwarded, duplicates = forwarded_readings(platform)
    counters = daemon.counters
    return {
        "produced": produced,
        "received": received_readings(northbound),
        "forwarded": forwarded,
        "lost": max(produced - forwarded, 0),
        "duplicates": duplicates,
        "dropped_counted": int(counters.total("dropped_total"))
        + sum(int(view.last_status.get(messages.DROPPED, 0)) for view in observer.boards.values()),
        "devices": daemon.store.count_by("state") if daemon.store else {},
        "boards": [
            {
                "id": node_id,
                "role": observer.boards[node_id].role,
                "heap_peak_bytes": observer.boards[node_id].heap_peak,
                "restarts": process.starts - 1,
                "memory_errors": process.console_text().count("MemoryError"),
            }
            for node_id, process in boards.items()
        ],
    }
