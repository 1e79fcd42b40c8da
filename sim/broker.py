"""The MQTT broker of a simulated fleet: the local Mosquitto when it answers, else a private Mosquitto on a
free port started from the binary, else an embedded amqtt broker in this process.

A fleet whose fault plan stops the broker always gets a private one (the shared local broker is never
stopped). A private Mosquitto keeps its sessions and queued messages on disk across an outage, as a
production broker with persistence does, so a broker restart loses nothing that was acknowledged. It
logs each client connection with its time (``connects()``), which the scale benchmark turns into a
connect rate; it has no connection limit of its own (the open-files limit it inherits is the bound).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from gateway.errors import Unavailable

LOCAL = ("127.0.0.1", 1883)
MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or next((p for p in MOSQUITTO_PATHS if Path(p).exists()), None)


class Broker:
    """Where the fleet's MQTT broker is and how to stop/start it (``kind``: local, mosquitto, amqtt)."""

    kind = "local"

    def __init__(self, host: str, port: int):
        self.host = host
        self.port = port

    @property
    def can_stop(self) -> bool:
        return False

    def stop(self) -> None:
        raise Unavailable("the shared local broker is never stopped by the simulator")

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


# "1700000000: New client connected from 127.0.0.1:40312 as node-001 (p2, c0, k30)."
_CONNECTED = re.compile(r"^(\d+): New client connected from \S+ as (\S+) ", re.MULTILINE)


class PrivateMosquitto(Broker):
    kind = "mosquitto"

    def __init__(self, binary: str):
        super().__init__("127.0.0.1", free_port())
        self.binary = binary
        self._dir = tempfile.TemporaryDirectory(prefix="rvb-broker-")
        # Started as root, mosquitto drops to its own user: it must still be able to write its store.
        Path(self._dir.name).chmod(0o777)
        self.conf = Path(self._dir.name) / "mosquitto.conf"
        self.log = Path(self._dir.name) / "mosquitto.log"
        self.conf.write_text(
            "listener %d 127.0.0.1\nallow_anonymous true\npersistence true\n"
            "persistence_location %s/\nautosave_interval 1\nmax_queued_messages 100000\n"
            "max_inflight_messages 100\nmax_connections -1\n"
            "log_dest file %s\nlog_type notice\nconnection_messages true\nlog_timestamp true\n"
            % (self.port, self._dir.name, self.log))
        self._proc: subprocess.Popen | None = None
        self.start()

    @property
    def can_stop(self) -> bool:
        return True

    def start(self) -> None:
        self._proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not reachable(self.host, self.port, 0.2):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise Unavailable("mosquitto did not start on port %d" % self.port)
            time.sleep(0.05)

    def connects(self) -> list[tuple[int, str]]:
        """-> (epoch second, client id) of every client connection the broker accepted so far."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return []
        return [(int(stamp), client) for stamp, client in _CONNECTED.findall(text)]

    def stop(self) -> None:
        """An outage: SIGTERM, as a service restart does (Mosquitto writes its persistence file)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()


class EmbeddedBroker(Broker):
    """amqtt in a thread of this process, for machines without Mosquitto."""

    kind = "amqtt"

    def __init__(self):
        super().__init__("127.0.0.1", free_port())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="amqtt", daemon=True)
        self._thread.start()
        self._broker = None
        self.start()

    @property
    def can_stop(self) -> bool:
        return True

    def _config(self) -> dict:
        return {"listeners": {"default": {"type": "tcp", "bind": "%s:%d" % (self.host, self.port)}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}}

    def start(self) -> None:
        from amqtt.broker import Broker as AmqttBroker

        async def boot():
            self._broker = AmqttBroker(self._config())
            await self._broker.start()

        asyncio.run_coroutine_threadsafe(boot(), self._loop).result(timeout=15)

    def stop(self) -> None:
        if self._broker is not None:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(timeout=15)
            self._broker = None

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


def open_broker(need_stop: bool = False, prefer: str | None = None) -> Broker:
    """The fleet's broker. ``need_stop``: the fault plan stops it, so never the shared one. ``prefer``
    forces a kind (tests)."""
    if prefer in (None, "local") and not need_stop and reachable(*LOCAL):
        return Broker(*LOCAL)
    binary = find_mosquitto()
    if prefer in (None, "mosquitto") and binary:
        return PrivateMosquitto(binary)
    try:
        return EmbeddedBroker()
    except ImportError as exc:
        raise Unavailable("no MQTT broker: no local Mosquitto, no mosquitto binary, and amqtt is not "
                          "installed (%s)" % exc) from exc
