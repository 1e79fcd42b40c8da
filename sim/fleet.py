"""The fleet runner behind `reverbere sim run`: a broker, a gateway, an urban platform and N simulated
boards running the real firmware; a fault plan applied on schedule; a reconciliation at the end.

The books are kept by parties independent of each other: an MQTT observer counts what the boards
produced (their data sequence numbers, dense per boot), the gateway's durable JSON-lines sink what it
received, the platform what it accepted; the gateway's own counters (drops, retries, devices) are read
from its Prometheus /metrics, as an operator would. ``lost`` = produced - forwarded and ``duplicates``
must both be 0 whatever the faults. A duplicate is a reading the gateway queued north twice (two outbox
items in its sink) or one the platform got twice as different observations; the same reading upserted
again unchanged (after a platform timeout, or a kill -9 between the platform's answer and the outbox's
record) is an idempotent upsert, one observation at the platform, booked apart as ``redelivered``.

Faults (sim/faults.py): broker-outage (a private broker is stopped and restarted), partition (the
boards' Wi-Fi link goes down), power-cycle (kill -9 and power on), gateway-kill (kill -9 of the gateway
process, and a new one on the same inventory, outbox and broker session when the fault ends),
platform-down (the platform answers 503, too late, or 207 with part of each batch failed),
sensor-fault (the board's sensor parts stop answering on their buses), clock-skew (the NTP server of the
targeted boards runs off; each such board gets a server of its own and syncs every period).

Time acceleration (``accel`` X >= 1): the run has one simulated clock (sim.ntp.SimulatedClock, epoch
``origin + (now - origin) * X``). The boards run on it through their time/select shims, the NTP servers
serve it (so synced boards stamp readings in simulated time, and the world model inside each board reads
its time of day from it), and the fault plan, ``duration_s`` and the live view count simulated seconds.
The gateway is left on real time: it learns each board's reporting period (simulated seconds) from its
birth and status, so its stale/offline timers are X times more lenient than at x1 and never flip a board
that reports; forwarding and deduplication (by node, boot and sequence) do not look at clocks at all, so
``lost``/``duplicates`` stay exact. The settle and drain phases after the run wait in real seconds for
the gateway to catch up. A board's MQTT keepalive is scaled up (30 s x X, capped at the config's
limit of 3600 s) so that its ping and silence timers, which run on accelerated ticks, keep the margins
they have in real time; the keepalive the broker is told is then long, but the board pings X times
more often than it says, and a killed board's socket closes at once. The watchdog shim counts real
time: the board's CPU runs at real speed, and in simulated time every millisecond the host makes a
board wait would count X times. Busy loops paced in simulated time are slowed down (pace_for_accel).
Limits at high X: the firmware waits 2 simulated seconds for an NTP answer (3 real ms at x600), so a
board may miss a sync and send a reading in the unsynced form, which the gateway dates with its own
(real) receipt time; and a reporting period under ~20 real ms could give two readings one stamp, which
the CLI refuses.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.errors import InvalidInput
from protocols import messages
from sim.board_process import BoardProcess, board_interpreter, node_config, prepare
from sim.broker import open_broker
from sim.demo import received_readings, sink_readings
from sim.faults import Fault, FaultPlanError, unmatched
from sim.gateway_process import GatewayProcess
from sim.lifi.street import OpticalStreet
from sim.lifi.street import master_key as lifi_master_key
from sim.ntp import NtpServer, SimulatedClock
from sim.observer import SequenceObserver
from sim.platform.books import ReadingBooks, reading_books
from sim.platform.server import FakePlatform

ROLES = (("sensor", "esp32-devkitc-sensor", "node"), ("luminaire", "luminaire-controller", "lum"),
         ("lifi-rx", "lifi-receiver", "rx"))
UNSUPPORTED_KINDS: tuple[str, ...] = ()
KEEPALIVE_S = 30         # a board's MQTT keepalive at x1
MAX_KEEPALIVE_S = 3600   # the firmware config's bound on mqtt.keepalive
# With platform-down:timeout in the plan, the forwarder's request timeout (10 s by default) is cut to
# this so that the fault (answers this late plus a second) is felt within a run; every 3rd entity fails
# in platform-down:207.
PLATFORM_TIMEOUT_S = 3.0
PLATFORM_PARTIAL_EVERY = 3


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
    accel: float = 1.0               # simulated seconds per real second (boards, NTP, fault plan)
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
        platform = self.platform.forward_url if self.platform else spec.platform_url
        if self.platform and any(f.kind == "platform-down" and f.target == "timeout" for f in spec.faults):
            platform += f"?timeout_s={PLATFORM_TIMEOUT_S:g}"
        # LiFi: an optical medium carries the luminaires' light to the receivers; lamps beacon with keys
        # derived from the run's master key, which the gateway reads from its key file. Real time only:
        # light at 8 kchip/s cannot run X times faster on the host (nor 4 beacons a simulated second).
        self.optical = (OpticalStreet.along(root / "optical", lifi_master_key(spec.seed),
                                            [(board_id, role) for board_id, role, _ in spec.board_ids()],
                                            seed=spec.seed, accel=spec.accel)
                        if (spec.luminaires or spec.receivers) and spec.accel == 1.0 else None)
        lifi = {"lifi": {"beacon_master_key_file": str(self.optical.key_file())}} if self.optical else {}
        # The gateway runs as `reverbere gateway run` in a process of its own (logs in gateway.log); what
        # has no flag goes in the run's gateway.toml.
        self.gateway = GatewayProcess(root, [
            "--broker", f"mqtt://{self.broker.host}:{self.broker.port}",
            "--client-id", f"rvb-fleet-gateway-{self.site}", "--site", self.site,
            "--db", f"sqlite:///{root / 'inventory.db'}",
            "--forward", platform, "--forward", f"file://{self.northbound}", "--auto-approve",
        ], {"broker": {"session_expiry_s": 600}, "inventory": {"default_period_s": spec.period_s},
            "forward": {"backoff_initial_s": 0.2, "backoff_max_s": 2.0}, **lifi})
        self.gateway_restarts = 0
        self.observer = SequenceObserver(self.broker.host, self.broker.port, self.site)
        # Boards stamp readings with wall time, as in the street: the platform tells readings apart by it.
        self.clock = SimulatedClock(spec.accel)
        self.ntp = NtpServer(clock=self.clock.now)
        # Boards under a clock-skew fault each ask a server of their own, the one the fault skews.
        self.skewed_ntp = {board_id: NtpServer(clock=self.clock.now) for board_id, _, _ in spec.board_ids()
                           if any(f.kind == "clock-skew" and f.matches(board_id) for f in spec.faults)}
        self.boards: dict[str, BoardProcess] = {}
        self.roles: dict[str, str] = {}

    # -- parts -----------------------------------------------------------------------------------
    def start_gateway(self) -> None:
        self.gateway.start()

    def wait_gateway_subscribed(self, timeout_s: float = 20.0) -> None:
        """Boards start publishing at once: the gateway's first session must be subscribed by then, or
        their first readings would reach only the observer. Later processes need not be waited for: the
        broker keeps the session (and queues what arrives) while none runs."""
        self.gateway.wait_subscribed(timeout_s)

    def stop_gateway(self) -> None:
        self.gateway.stop()

    def start_boards(self) -> None:
        if self.optical is not None:
            self.optical.start(env=self.clock.env())
        for index, (board_id, role, board) in enumerate(self.spec.board_ids()):
            ntp = self.skewed_ntp.get(board_id, self.ntp)
            ntp_cfg = {"host": ntp.host, "port": ntp.port}
            if board_id in self.skewed_ntp:
                ntp_cfg["every_s"] = max(1.0, self.spec.period_s)
            keepalive = min(MAX_KEEPALIVE_S, max(KEEPALIVE_S, round(KEEPALIVE_S * self.spec.accel)))
            cfg = node_config(board, self.site, self.broker.host, self.broker.port, node_id=board_id,
                              period=self.spec.period_s, status_period=self.spec.period_s * 2,
                              ntp=ntp_cfg, mqtt={"keepalive": keepalive})
            pace_for_accel(cfg, self.spec.accel)
            board_dir = prepare(self.root / board_id, cfg, seed=self.spec.seed * 1000 + index)
            if self.optical is not None:
                self.optical.wire(board_dir, board_id)
            self.roles[board_id] = role
            self.boards[board_id] = BoardProcess(board_dir, heap=self.spec.heap, micropython=board_interpreter(),
                                                 extra_env=self.clock.env()).start()

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
            self.gateway.kill()
        elif kind == "platform-down":
            self._platform_fails(fault.target or "503")
        elif kind == "sensor-fault":
            for board in self.targets(fault):
                _set_part_faults(board.board_dir, "absent")
        elif kind == "clock-skew":
            for board_id in self.skewed_ntp:
                if fault.matches(board_id):
                    self.skewed_ntp[board_id].skew_s = fault.skew_s or 0.0

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
        elif kind == "clock-skew":
            for board_id in self.skewed_ntp:
                if fault.matches(board_id):
                    self.skewed_ntp[board_id].skew_s = 0.0

    def _platform_fails(self, mode: str) -> None:
        if mode == "timeout":
            # Later than the forwarder waits, yet stored: the retry upserts the same readings again.
            self.platform.slow_next(PLATFORM_TIMEOUT_S + 1.0, count=None, commit=True)
        elif mode == "207":
            self.platform.fail_some(PLATFORM_PARTIAL_EVERY, status=503, count=None)
        else:
            self.platform.fail_next(503, count=None)

    # -- books -----------------------------------------------------------------------------------
    def platform_books(self) -> ReadingBooks:
        if self.platform is None:
            # An outside platform cannot be asked: the gateway's count of items it accepted stands in.
            return ReadingBooks(accepted=int(self.gateway.total("forwarded_total", forwarder="ngsi-ld")))
        return reading_books(self.platform)

    def forwarded(self) -> tuple[int, int]:
        """(readings the platform accepted, readings it got twice as different observations)."""
        books = self.platform_books()
        return books.accepted, books.conflicting

    def devices(self) -> dict:
        return self.gateway.gauge("devices", "state")

    def snapshot(self, elapsed: float) -> str:
        forwarded, _ = self.forwarded()
        alive = sum(board.alive() for board in self.boards.values())
        gateway = f"pid {self.gateway.pid}" if self.gateway.alive() else "down"
        return ("[%6.1fs] boards up %d/%d | gateway %s | devices %s | produced %d, received %d, forwarded %d"
                % (elapsed, alive, len(self.boards), gateway, json.dumps(self.devices()),
                   self.observer.produced(), received_readings(self.northbound), forwarded))

    def reconcile(self) -> dict:
        self.gateway.scrape()
        produced = self.observer.produced()
        books = self.platform_books()
        views = self.observer.boards
        dropped = int(self.gateway.total("dropped_total"))
        dropped += sum(int(view.last_status.get(messages.DROPPED, 0)) for view in views.values())
        return {
            "produced": produced,
            "received": received_readings(self.northbound),
            "forwarded": books.accepted,
            "lost": max(produced - books.accepted, 0),
            "duplicates": books.conflicting + queued_twice(self.northbound),
            "redelivered": books.redelivered,
            "dropped_counted": dropped,
            "rejected": int(self.gateway.total("messages_rejected_total")),  # refused by the gateway, counted
            "devices": self.devices(),
            "broker": self.broker.kind,
            "gateway_restarts": self.gateway_restarts,
            "gateway_kills": self.gateway.kills,
            "forward_retries": int(self.gateway.total("forward_retries_total")),
            "platform_failures": self.platform.stats()["rejections"] if self.platform else {},
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
        if self.optical is not None:
            self.optical.close()
        self.observer.close()
        self.ntp.close()
        for server in self.skewed_ntp.values():
            server.close()
        self.gateway.close()
        if self.platform is not None:
            self.platform.stop()
        self.broker.close()


def pace_for_accel(cfg: dict, accel: float) -> None:
    """Keep a board's busy loops at the real-time rate they have at x1: the host's CPU does not run X
    times faster, and a loop paced in simulated time would take all of it (the sensor's noise sampler at
    10 Hz becomes 6,000 samples a real second at x600; the LiFi receiver would decode a burst every
    real millisecond) and starve the board's other tasks and its watchdog. The noise level is then
    averaged over fewer samples per period and fewer LiFi bursts are listened to; the readings, their
    number and their times are unchanged."""
    if accel == 1.0:
        return
    role = cfg.get("role", {})
    for part in role.get("parts", []):
        if "sample_hz" in part:
            part["sample_hz"] = part["sample_hz"] / accel
    photodiode = role.get("photodiode")
    if photodiode is not None:
        photodiode["pause_s"] = photodiode.get("pause_s", 0.5) * accel


def queued_twice(northbound: Path) -> int:
    """Readings the gateway put in its outbox more than once (a dedup failure): in its JSON-lines sink, one
    (node, boot, seq) under several outbox ids. The same id written twice is a re-send after a kill."""
    outbox_ids: dict[tuple, set[int]] = {}
    for reading, outbox_id in sink_readings(northbound):
        outbox_ids.setdefault(reading, set()).add(outbox_id)
    return sum(1 for ids in outbox_ids.values() if len(ids) > 1)


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
    if not spec.accel >= 1.0:
        raise InvalidInput("time acceleration must be 1 or more (got %g)" % spec.accel)


def _schedule(faults: list[Fault]) -> list[tuple[float, str, Fault]]:
    """-> (time, "begin"|"end", fault) in time order; an instant fault has no end."""
    events = [(fault.start_s, "begin", fault) for fault in faults]
    events += [(fault.end_s, "end", fault) for fault in faults if fault.kind != "power-cycle"]
    return sorted(events, key=lambda event: (event[0], event[1] == "begin"))


def run_fleet(spec: FleetSpec, on_tick: Callable[[str], None] | None = None,
              on_start: Callable[[Fleet], None] | None = None) -> dict:
    """Run the fleet for ``spec.duration_s`` and return the reconciliation. ``on_start`` gets the
    fleet just before its boards start (benchmarks watch the running parts through it)."""
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
        if on_start:
            on_start(fleet)
        fleet.start_boards()
        started = time.monotonic()
        next_tick = started + 1.0
        while True:
            elapsed = fleet.clock.elapsed(started)  # simulated seconds: the plan's and the view's time
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
        _settle(fleet, spec.settle_s if spec.settle_s is not None
                else max(3 * fleet.clock.real_s(spec.period_s), 10.0))
        # The boards' LiFi counters as they last reported them (a killed board's will would replace them).
        statuses = {node: (view.role, view.last_status.get(messages.EXT) or {})
                    for node, view in fleet.observer.boards.items()}
        for board in fleet.boards.values():
            board.kill()
        _drain(fleet, spec.drain_s)
        result = fleet.reconcile()
        if fleet.optical is not None:
            fleet.optical.close()  # its last counters are written as it stops
            result["lifi"] = fleet.optical.books(statuses, fleet.root / "inventory.db")
        result["duration_s"] = spec.duration_s
        result["accel"] = spec.accel
        return result
    finally:
        fleet.close()
        if scratch:
            scratch.cleanup()


def _settle(fleet: Fleet, seconds: float) -> None:
    """Wait until the gateway has caught up with what the boards produced (or ``seconds`` pass)."""
    deadline = time.monotonic() + seconds
    time.sleep(min(seconds, 2 * fleet.clock.real_s(fleet.spec.period_s)))
    while time.monotonic() < deadline and fleet.forwarded()[0] < fleet.observer.produced():
        time.sleep(0.2)


def _drain(fleet: Fleet, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and fleet.forwarded()[0] < fleet.observer.produced():
        time.sleep(0.2)
