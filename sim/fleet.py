"""The fleet runner behind `reverbere sim run`: a broker, a gateway, an urban platform and N simulated
boards running the real firmware; a fault plan applied on schedule; a reconciliation at the end.

The books are kept by parties independent of each other: an MQTT observer counts what the boards
produced (their data sequence numbers, dense per boot), the gateway's durable JSON-lines sink what it
received, the platform what it accepted. ``lost`` = produced - forwarded and ``duplicates`` (readings the
platform got twice) must both be 0 whatever the faults.

Faults (sim/faults.py): broker-outage (a private broker is stopped and restarted), partition (the
boards' Wi-Fi link goes down), power-cycle (kill -9 and power on), gateway-kill (the gateway stops and
a new one starts on the same inventory and outbox), platform-down (the platform answers 503),
sensor-fault (the board's sensor parts stop answering on their buses). clock-skew is refused: the
board shims have no clock offset to set yet.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import GatewayConfig
from gateway.daemon import Daemon
from gateway.errors import InvalidInput, Unavailable
from protocols import messages
from sim.board_process import BoardProcess, node_config, prepare
from sim.broker import open_broker
from sim.demo import forwarded_readings, received_readings
from sim.faults import Fault, FaultPlanError, unmatched
from sim.ntp import NtpServer
from sim.observer import SequenceObserver
from sim.platform.server import FakePlatform

ROLES = (("sensor", "esp32-devkitc-sensor", "node"), ("luminaire", "luminaire-controller", "lum"),
         ("lifi-rx", "lifi-receiver", "rx"))
UNSUPPORTED_KINDS = ("clock-skew",)
PLATFORM_DOWN_STATUS = 503


@dataclass
class FleetSpec:
    nodes: int = 3
    luminaires: int = 0
    receivers: int = 0
    duration_s: float = 30.0
    heap: str = "64K"
    faults: list[Fault] = field(default_factory=list)
    platform_url: str | None = None
    seed: int = 1
    period_s: float = 2.0
    settle_s: float | None = None    # after the run: time for boards to replay what they buffered
    drain_s: float = 30.0            # after the boards stop: time for the gateway to forward the rest
    workdir: Path | None = None
    broker: str | None = None        # force "local", "mosquitto" or "amqtt"

    def board_ids(self) -> list[tuple[str, str, str]]:
        """-> [(board id, role, board definition)]."""
        counts = {"sensor": self.nodes, "luminaire": self.luminaires, "lifi-rx": self.receivers}
        return [("%s-%03d" % (prefix, i), role, board)
                for role, board, prefix in ROLES for i in range(counts[role])]


class Fleet:
    """The running parts of a fleet and the fault actions on them."""

    def __init__(self, spec: FleetSpec, root: Path):
        self.spec = spec
        self.root = root
        self.site = "fleet-%d-%d" % (int(time.time()) % 100000, id(self) % 1000)
        self.broker = open_broker(need_stop=any(f.kind == "broker-outage" for f in spec.faults),
                                  prefer=spec.broker)
        self.platform = FakePlatform().start() if spec.platform_url is None else None
        self.northbound = root / "northbound.jsonl"
        forward = (self.platform.forward_url if self.platform else spec.platform_url,
                   "file://%s" % self.northbound)
        self.gateway_config = GatewayConfig(
            broker="mqtt://%s:%d" % (self.broker.host, self.broker.port),
            client_id="rvb-fleet-gateway-%s" % self.site, sites=(self.site,),
            db="sqlite:///%s" % (root / "inventory.db"), forward=forward, auto_approve=True,
            default_period_s=spec.period_s, http=None, session_expiry_s=600,
            backoff_initial_s=0.2, backoff_max_s=2.0)
        self.gateway: Daemon | None = None
        self.counters = None
        self._gateway_thread: threading.Thread | None = None
        self.gateway_restarts = 0
        self.observer = SequenceObserver(self.broker.host, self.broker.port, self.site)
        # Boards stamp readings with wall time, as in the street: the platform tells readings apart by it.
        self.ntp = NtpServer()
        self.boards: dict[str, BoardProcess] = {}
        self.roles: dict[str, str] = {}

    # -- parts -----------------------------------------------------------------------------------
    def start_gateway(self) -> None:
        self.gateway = Daemon(self.gateway_config, counters=self.counters)
        self.counters = self.gateway.counters
        self._gateway_thread = threading.Thread(target=self.gateway.run, name="gateway", daemon=True)
        self._gateway_thread.start()

    def wait_gateway_subscribed(self, timeout_s: float = 15.0) -> None:
        """Boards start publishing at once: the gateway's first session must be subscribed by then, or
        their first readings would reach only the observer."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ingest = self.gateway.ingest if self.gateway else None
            if ingest is not None and ingest.client.is_connected():
                time.sleep(0.5)  # the SUBACK follows the CONNACK
                return
            time.sleep(0.05)
        raise Unavailable("the gateway did not connect to the broker at %s:%d"
                          % (self.broker.host, self.broker.port))

    def stop_gateway(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
            self._gateway_thread.join(timeout=30)
            self.gateway = None

    def start_boards(self) -> None:
        for index, (board_id, role, board) in enumerate(self.spec.board_ids()):
            cfg = node_config(board, self.site, self.broker.host, self.broker.port, node_id=board_id,
                              period=self.spec.period_s, status_period=self.spec.period_s * 2,
                              ntp={"host": self.ntp.host, "port": self.ntp.port})
            board_dir = prepare(self.root / board_id, cfg, seed=self.spec.seed * 1000 + index)
            self.roles[board_id] = role
            self.boards[board_id] = BoardProcess(board_dir, heap=self.spec.heap).start()

    def targets(self, fault: Fault) -> list[BoardProcess]:
        return [board for board_id, board in self.boards.items() if fault.matches(board_id)]

    # -- faults -----------------------------------------------------------------------------------
    def begin(self, fault: Fault) -> None:
        kind = fault.kind
        if kind == "broker-outage":
            self.broker.stop()
        elif kind == "partition":
            for board in self.targets(fault):
                (board.board_dir / "link-down").touch()
        elif kind == "power-cycle":
            for board in self.targets(fault):
                board.kill()
                board.start()
        elif kind == "gateway-kill":
            self.stop_gateway()
        elif kind == "platform-down":
            self.platform.fail_next(PLATFORM_DOWN_STATUS, count=None)
        elif kind == "sensor-fault":
            for board in self.targets(fault):
                _set_part_faults(board.board_dir, "absent")

    def end(self, fault: Fault) -> None:
        kind = fault.kind
        if kind == "broker-outage":
            self.broker.start()
        elif kind == "partition":
            for board in self.targets(fault):
                (board.board_dir / "link-down").unlink(missing_ok=True)
        elif kind == "gateway-kill":
            self.gateway_restarts += 1
            self.start_gateway()
        elif kind == "platform-down":
            self.platform.clear_faults()
        elif kind == "sensor-fault":
            for board in self.targets(fault):
                _set_part_faults(board.board_dir, None)

    # -- books -----------------------------------------------------------------------------------
    def forwarded(self) -> tuple[int, int]:
        if self.platform is None:
            return int(self.counters.total("forwarded_total")) if self.counters else 0, 0
        return forwarded_readings(self.platform)

    def devices(self) -> dict:
        return self.gateway.store.count_by("state") if self.gateway and self.gateway.store else {}

    def snapshot(self, elapsed: float) -> str:
        forwarded, _ = self.forwarded()
        alive = sum(board.alive() for board in self.boards.values())
        return ("[%6.1fs] boards up %d/%d | devices %s | produced %d, received %d, forwarded %d"
                % (elapsed, alive, len(self.boards), json.dumps(self.devices()), self.observer.produced(),
                   received_readings(self.northbound), forwarded))

    def reconcile(self) -> dict:
        produced = self.observer.produced()
        forwarded, duplicates = self.forwarded()
        views = self.observer.boards
        dropped = int(self.counters.total("dropped_total")) if self.counters else 0
        dropped += sum(int(view.last_status.get(messages.DROPPED, 0)) for view in views.values())
        return {
            "produced": produced,
            "received": received_readings(self.northbound),
            "forwarded": forwarded,
            "lost": max(produced - forwarded, 0),
            "duplicates": duplicates,
            "dropped_counted": dropped,
            "devices": self.devices(),
            "broker": self.broker.kind,
            "gateway_restarts": self.gateway_restarts,
            "forward_retries": int(self.counters.total("forward_retries_total")) if self.counters else 0,
            "faults": [str(fault) for fault in self.spec.faults],
            "boards": [
                {"id": board_id, "role": self.roles[board_id], "heap_peak_bytes": views[board_id].heap_peak
                 if board_id in views else 0, "restarts": board.starts - 1,
                 "memory_errors": board.console_text().count("MemoryError")}
                for board_id, board in self.boards.items()
            ],
        }

    def close(self) -> None:
        for board in self.boards.values():
            board.kill()
        self.observer.close()
        self.ntp.close()
        self.stop_gateway()
        if self.platform is not None:
            self.platform.stop()
        self.broker.close()


def _set_part_faults(board_dir: Path, reason: str | None) -> None:
    """Make every part on the board's buses fail with ``reason`` (None: heal), replacing sim.json
    atomically so the device models see the change at their next transaction."""
    path = board_dir / "sim.json"
    wiring = json.loads(path.read_text())
    parts = [spec["part"] for specs in wiring.get("i2c", {}).values() for spec in specs]
    parts += [spec["part"] for spec in wiring.get("uart", {}).values()]
    wiring["faults"] = {} if reason is None else {part: reason for part in parts}
    tmp = path.with_name("sim.json.tmp")
    tmp.write_text(json.dumps(wiring))
    tmp.replace(path)


def check_plan(spec: FleetSpec) -> None:
    ids = [board_id for board_id, _, _ in spec.board_ids()]
    for fault in spec.faults:
        if fault.kind in UNSUPPORTED_KINDS:
            raise FaultPlanError("fault %s: %s is not supported by the fleet runner yet" % (fault, fault.kind))
        if fault.kind == "platform-down" and spec.platform_url is not None:
            raise FaultPlanError("fault %s: platform-down needs the built-in platform (drop --platform)" % fault)
        if fault.start_s >= spec.duration_s:
            raise FaultPlanError("fault %s starts after the end of the run (%gs)" % (fault, spec.duration_s))
    missing = unmatched(spec.faults, ids)
    if missing:
        raise FaultPlanError("fault %s: no board matches %r (boards: %s)"
                             % (missing[0], missing[0].target, ", ".join(ids[:5]) + (" …" if len(ids) > 5 else "")))
    if not ids:
        raise InvalidInput("a fleet needs at least one board")


def _schedule(faults: list[Fault]) -> list[tuple[float, str, Fault]]:
    """-> (time, "begin"|"end", fault) in time order; an instant fault has no end."""
    events = [(fault.start_s, "begin", fault) for fault in faults]
    events += [(fault.end_s, "end", fault) for fault in faults if fault.kind != "power-cycle"]
    return sorted(events, key=lambda event: (event[0], event[1] == "begin"))


def run_fleet(spec: FleetSpec, on_tick: Callable[[str], None] | None = None) -> dict:
    """Run the fleet for ``spec.duration_s`` and return the reconciliation."""
    check_plan(spec)
    scratch = tempfile.TemporaryDirectory(prefix="rvb-fleet-") if spec.workdir is None else None
    root = Path(scratch.name if scratch else spec.workdir)
    root.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(spec, root)
    pending = _schedule(spec.faults)
    active: list[Fault] = []
    try:
        fleet.start_gateway()
        fleet.wait_gateway_subscribed()
        fleet.start_boards()
        started = time.monotonic()
        next_tick = started + 1.0
        while True:
            elapsed = time.monotonic() - started
            while pending and pending[0][0] <= elapsed:
                _, action, fault = pending.pop(0)
                if action == "begin":
                    fleet.begin(fault)
                    active.append(fault)
                elif fault in active:
                    fleet.end(fault)
                    active.remove(fault)
                if on_tick:
                    on_tick("[%6.1fs] fault %s %s" % (elapsed, action, fault))
            if elapsed >= spec.duration_s:
                break
            if on_tick and time.monotonic() >= next_tick:
                on_tick(fleet.snapshot(elapsed))
                next_tick += 1.0
            time.sleep(0.05)
        # Faults still held at the end are lifted, then the boards get time to replay their buffers.
        for fault in active:
            fleet.end(fault)
        _settle(fleet, spec.settle_s if spec.settle_s is not None else max(3 * spec.period_s, 10.0))
        for board in fleet.boards.values():
            board.kill()
        _drain(fleet, spec.drain_s)
        result = fleet.reconcile()
        result["duration_s"] = spec.duration_s
        return result
    finally:
        fleet.close()
        if scratch:
            scratch.cleanup()


def _settle(fleet: Fleet, seconds: float) -> None:
    """Wait until the gateway has caught up with what the boards produced (or ``seconds`` pass)."""
    deadline = time.monotonic() + seconds
    time.sleep(min(seconds, 2 * fleet.spec.period_s))
    while time.monotonic() < deadline and fleet.forwarded()[0] < fleet.observer.produced():
        time.sleep(0.2)


def _drain(fleet: Fleet, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and fleet.forwarded()[0] < fleet.observer.produced():
        time.sleep(0.2)
