"""A real gateway for the field tests and the field benchmark: the daemon on the local Mosquitto with a
SQLite inventory and its HTTP API on a free port, listening to one site."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

from gateway.api import serve
from gateway.config import GatewayConfig
from gateway.daemon import Daemon

TOKEN = "field-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RunningGateway:
    """Started on construction; `url` is its API, `db` its inventory, `close()` stops it."""

    def __init__(self, workdir: Path, site: str, broker_port: int = 1883, start_timeout: float = 30.0):
        port = free_port()
        self.workdir = Path(workdir)
        self.site = site
        self.url = "http://127.0.0.1:%d" % port
        self.db = "sqlite:///%s" % (Path(workdir) / "inventory.db")
        config = replace(GatewayConfig(), db=self.db, client_id="t-field-gw-" + uuid.uuid4().hex[:8],
                         sites=(site,), http="127.0.0.1:%d" % port, session_expiry_s=0,
                         broker="mqtt://127.0.0.1:%d" % broker_port,
                         forward=("file://%s" % (Path(workdir) / "north.jsonl"),))
        subscribed = threading.Event()

        def hook(daemon, host, http_port):
            # A birth published before ingest's SUBACK would be lost: note when the subscription is granted.
            daemon.ingest.client.on_subscribe = lambda *_: subscribed.set()
            server = serve(daemon, host, http_port)
            server.api.token = TOKEN  # the admin token, here rather than in this process's environment
            return server

        self.daemon = Daemon(config, http_hook=hook)
        self._runner = threading.Thread(target=self.daemon.run, name="field-gateway", daemon=True)
        self._runner.start()
        deadline = time.monotonic() + start_timeout
        while not (subscribed.is_set() and self.daemon._http is not None):
            if time.monotonic() > deadline or not self._runner.is_alive():
                self.close()
                raise RuntimeError("the gateway did not start within %.0f s" % start_timeout)
            time.sleep(0.05)

    def close(self) -> None:
        self.daemon.stop()
        self._runner.join(15)
