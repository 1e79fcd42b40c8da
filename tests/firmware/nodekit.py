"""Shared parts of the firmware runtime tests: a private Mosquitto, a CBOR-decoding subscriber, and
simulated boards started through sim/board_process.py."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import cbor2
import paho.mqtt.client as mqtt

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sim.board_process import BoardProcess, node_config, prepare  # noqa: E402

MOSQUITTO = shutil.which("mosquitto", path="/usr/sbin:/usr/bin") or "/usr/sbin/mosquitto"
LOCAL_BROKER = ("127.0.0.1", 1883)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique_site(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(predicate, timeout: float = 10.0, step: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; return that (or the last falsy value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


class Broker:
    """A private Mosquitto on a free port, with persistence so sessions survive a restart."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        # Started as root, mosquitto would switch to its own user, which cannot read pytest's private
        # temporary folders (persistence, certificates): stay the user who started it.
        stay = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(f"{stay}listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                             f"persistence_location {workdir}/\nlog_dest file {workdir}/mosquitto.log\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Broker":
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

        def accepting():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                return False
        if not wait_until(accepting, 5.0):
            raise RuntimeError("mosquitto did not start")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


class Collector:
    """Subscribes to one site with a persistent session (QoS 1) and keeps every message decoded."""

    def __init__(self, site: str, host: str = "127.0.0.1", port: int = 1883):
        self.site = site
        self.messages: list[tuple[str, str, dict]] = []   # (node_id, channel, payload)
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"collector-{site}",
                                  clean_session=False)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect(host, port, keepalive=30)
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.loop_start()
        if not self.subscribed.wait(5):
            raise RuntimeError("collector did not subscribe")

    def _on_connect(self, client, userdata, flags, reason, properties):
        client.subscribe(f"rvb/v1/{self.site}/+/+", qos=1)

    def _on_message(self, client, userdata, msg):
        _, _, _, node, channel = msg.topic.split("/")
        try:
            payload = cbor2.loads(msg.payload)
        except cbor2.CBORDecodeError:
            payload = msg.payload          # kept raw: tests of the bare MQTT client send plain bytes
        with self._lock:
            self.messages.append((node, channel, payload))

    def of(self, channel: str) -> list[dict]:
        with self._lock:
            return [m for _, c, m in self.messages if c == channel]

    def publish_cmd(self, node_id: str, cmd_id: int, op: str, args: dict | None = None) -> None:
        msg = {40: cmd_id, 41: op}
        if args is not None:
            msg[42] = args
        self.client.publish(f"rvb/v1/{self.site}/{node_id}/cmd", cbor2.dumps(msg), qos=1).wait_for_publish(5)

    def ack_for(self, cmd_id: int) -> dict | None:
        for ack in self.of("ack"):
            if ack[40] == cmd_id:
                return ack
        return None

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def start_node(tmp_path: Path, site: str, port: int = 1883, board: str = "esp32-devkitc-sensor",
               heap: str = "64K", **settings) -> BoardProcess:
    settings.setdefault("period", 0.3)
    settings.setdefault("status_period", 60)
    settings.setdefault("replay_per_s", 200)
    settings.setdefault("backoff", {"base_ms": 100, "cap_ms": 400})
    # The node id is also the MQTT client id: the site (unique per test) keeps parallel runs apart.
    cfg = node_config(board, site, "127.0.0.1", port, node_id=site, **settings)
    board_dir = prepare(tmp_path / "board", cfg, seed=7)
    return BoardProcess(board_dir, heap=heap).start()


def data_keys(messages: list[dict]) -> list[tuple[int, int]]:
    return [(m[1], m[2]) for m in messages]


def run_micropython(script: str, cwd: Path, heap: str = "512K", timeout: float = 60) -> dict:
    """Run ``script`` under the MicroPython unix port with the repository's sources importable and
    the shims first; its last stdout line is a JSON object, returned decoded."""
    import json
    import os

    from sim.board_process import SHIMS, find_micropython
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([".frozen", str(SHIMS), str(REPO)]),
               RVB_BOARD_DIR=str(cwd))
    (cwd / "script.py").write_text(script)
    proc = subprocess.run([find_micropython(), "-X", f"heapsize={heap}", "script.py"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"micropython failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class NtpServer:
    """A minimal SNTP server (RFC 4330 server mode) on a free UDP port answering a fixed time."""

    def __init__(self, epoch, delay_s=0.0):
        self.epoch = epoch
        self.delay_s = delay_s
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                request, addr = self.sock.recvfrom(48)
            except OSError:
                continue
            time.sleep(self.delay_s)
            seconds = int(self.epoch) + 2208988800
            answer = bytearray(48)
            answer[0] = 0x24   # LI 0, version 4, mode 4 (server)
            answer[1] = 2
            struct.pack_into("!II", answer, 40, seconds, 0)
            self.sock.sendto(bytes(answer), addr)

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()
