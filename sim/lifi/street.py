"""LiFi on a simulated street, for the fleet runner and the demo: where luminaires and receivers stand,
the optical medium process that carries the light between them (sim/lifi/medium.py), the beacon keys,
and the books of what was sent, decoded and verified.

Keys: the run has one site master key (`master_key(seed)`, given to the gateway as its
`lifi_master_key`); each luminaire gets its own key derived from it and its MAC (what a deploy step
does: protocols.lifi.beacon.derive_lamp_key), so the master key never reaches a board. A simulated
board's MAC is machine.unique_id() of the shim: the first six bytes of sha256 of its directory.

Layout (`OpticalStreet.along`): luminaires every `spacing_m` metres along the street, receiver k under
luminaire k mod M, `offset_m` from the mast foot (in its light cone); with no luminaire, receivers
stand alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from protocols.lifi import beacon
from sim.lifi.medium import LampSpec, ReceiverSpec, config_of, gain

REPO = Path(__file__).resolve().parents[2]
SPACING_M = 30.0
OFFSET_M = 1.0
DELAY_MS = 300        # receivers read the light this long after it was emitted (> the medium's margin)
LUMINAIRE_ROLE = "luminaire"
RECEIVER_ROLE = "lifi-rx"


def master_key(seed: int) -> bytes:
    """The run's site master key: deterministic per seed (a simulation, not a deployment)."""
    return hashlib.sha256(b"reverbere simulated street %d" % seed).digest()


def board_mac(board_dir: Path | str) -> bytes:
    """What machine.unique_id() returns on the simulated board living in `board_dir`."""
    return hashlib.sha256(str(board_dir).encode()).digest()[:6]


def receiver_rate(cfg: dict) -> float:
    pd = cfg["role"]["photodiode"]
    return float(pd["chip_rate"] * pd["samples_per_chip"])


class OpticalStreet:
    def __init__(self, root: Path | str, key: bytes, seed: int = 1, period_ms: int = 250, accel: float = 1.0):
        """`accel`: the run's time acceleration (the receivers' delay is simulated time)."""
        self.accel = accel
        self.root = Path(root)
        self.key = key
        self.seed = seed
        self.period_ms = period_ms
        self.lamps: list[LampSpec] = []
        self.receivers: list[ReceiverSpec] = []
        self.port: int | None = None
        self.stats_path = self.root / "optical-medium.json"
        self._proc: subprocess.Popen | None = None

    @classmethod
    def along(cls, root: Path | str, key: bytes, boards: list[tuple[str, str]], seed: int = 1,
              spacing_m: float = SPACING_M, offset_m: float = OFFSET_M, accel: float = 1.0) -> OpticalStreet:
        """`boards`: [(board id, role)]; only luminaires and receivers are placed."""
        street = cls(root, key, seed, accel=accel)
        lamps = [board_id for board_id, role in boards if role == LUMINAIRE_ROLE]
        rxs = [board_id for board_id, role in boards if role == RECEIVER_ROLE]
        for i, lamp in enumerate(lamps):
            street.lamps.append(LampSpec(lamp, x_m=i * spacing_m))
        for k, rx in enumerate(rxs):
            x = (k % len(lamps)) * spacing_m + offset_m if lamps else (k + 0.5) * spacing_m
            street.receivers.append(ReceiverSpec(rx, x_m=x, y_m=0.0))
        return street

    def key_file(self) -> Path:
        """The master key as the gateway reads it (`[lifi] beacon_master_key_file`): hex, owner-only."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "lifi-master.key"
        path.touch(mode=0o600)
        path.write_text(self.key.hex())
        return path

    def books(self, statuses: dict[str, tuple[str, dict]], db_path: Path | str) -> dict:
        """The run's LiFi figures (see `books`) from the boards' statuses and a SQLite inventory, with
        the medium's own counters."""
        stats = self.stats()
        return dict(books(statuses, inventory_coverage(db_path)),
                    medium={key: stats.get(key) for key in ("cpu_s", "wall_s", "datagrams", "bad")})

    def covered_by(self, receiver_id: str) -> list[str]:
        """Lamps whose light reaches the receiver (non-zero line-of-sight gain)."""
        rx = next(r for r in self.receivers if r.id == receiver_id)
        return [lamp.id for lamp in self.lamps if gain(lamp, rx) > 0]

    # -- the medium process ------------------------------------------------------------------------------
    def start(self, env: dict[str, str] | None = None) -> int:
        """Start the medium on a free UDP port (`env`: the boards' clock variables, see
        medium.from_config); -> the port. Does not wait for the process: boards can be wired and
        started meanwhile (what they send before it listens is lost, and receivers say hello again)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = self.root / "optical-medium-config.json"
        config.write_text(json.dumps(config_of(self.lamps, self.receivers, seed=self.seed, port=self.port)))
        with open(self.root / "optical-medium.log", "ab") as log:
            self._proc = subprocess.Popen([sys.executable, "-m", "sim.lifi.medium", str(config),
                                           "--stats", str(self.stats_path)],
                                          cwd=REPO, stdout=subprocess.DEVNULL, stderr=log,
                                          env=dict(os.environ, **(env or {})))
        return self.port

    def stats(self) -> dict:
        try:
            return json.loads(self.stats_path.read_text())
        except (OSError, ValueError):
            return {}

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # -- boards ------------------------------------------------------------------------------------------
    def lamp_key(self, board_dir: Path | str) -> bytes:
        return beacon.derive_lamp_key(self.key, board_mac(board_dir))

    def wire(self, board_dir: Path | str, board_id: str) -> bool:
        """Connect a prepared board (config.json and sim.json written) to the medium: a luminaire gets its
        beacon key, both get the medium's address in sim.json. -> False for boards not on the street."""
        role = ({lamp.id: LUMINAIRE_ROLE for lamp in self.lamps}
                | {rx.id: RECEIVER_ROLE for rx in self.receivers}).get(board_id)
        if role is None:
            return False
        if self.port is None:
            raise RuntimeError("start the optical medium before wiring boards to it")
        board_dir = Path(board_dir)
        optical = {"medium": ["127.0.0.1", self.port], "id": board_id}
        if role == LUMINAIRE_ROLE:
            cfg = json.loads((board_dir / "config.json").read_text())
            cfg["role"]["lifi_beacon"] = {"key": self.lamp_key(board_dir).hex(), "period_ms": self.period_ms}
            _replace(board_dir / "config.json", cfg)
        else:
            cfg = json.loads((board_dir / "config.json").read_text())
            optical["delay_ms"] = round(DELAY_MS * self.accel)
            optical["rate"] = int(receiver_rate(cfg))
        wiring = json.loads((board_dir / "sim.json").read_text())
        wiring["optical"] = optical
        _replace(board_dir / "sim.json", wiring)
        return True


def _replace(path: Path, content: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(content))
    tmp.replace(path)


def books(statuses: dict[str, tuple[str, dict]], coverage_rows: list[tuple[str, str | None, list]],
          verified: int | None = None) -> dict:
    """The LiFi figures of a run's report.

    `statuses`: board id -> (role, last status ext map) as the boards reported; `coverage_rows`:
    (device id, role, lifi coverage items) from the inventory; `verified`: beacons the gateway accepted
    (its counter), else the sum of the receivers' coverage counts."""
    # By the fields only luminaires (lifi_beacons) and receivers (decoded) report: a status may arrive
    # before its board's birth told the observer the role.
    sent = sum(int(ext.get("lifi_beacons", 0)) for _, ext in statuses.values())
    decoded = sum(int(ext.get("decoded", 0)) for role, ext in statuses.values() if role != LUMINAIRE_ROLE)
    from_rows = sum(int(item.get("count", 0)) for _, role, items in coverage_rows if role == RECEIVER_ROLE
                    for item in items or [])
    covered = sorted({item["lamp"] for _, role, items in coverage_rows if role == RECEIVER_ROLE
                      for item in items or []})
    return {"beacons_sent": sent, "beacons_decoded": decoded,
            "beacons_verified": from_rows if verified is None else verified,
            "luminaires_covered": len(covered)}


def inventory_coverage(db_path: Path | str) -> list[tuple[str, str | None, list]]:
    """(device id, role, lifi items) of every device of a SQLite inventory (read-only)."""
    import sqlite3
    try:
        with sqlite3.connect("file:%s?mode=ro" % db_path, uri=True) as db:
            rows = db.execute("SELECT id, role, lifi FROM devices").fetchall()
    except sqlite3.Error:
        return []
    return [(node, role, json.loads(lifi) if lifi else []) for node, role, lifi in rows]
