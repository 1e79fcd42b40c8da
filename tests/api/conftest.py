"""A real gateway daemon (local Mosquitto, SQLite inventory) with its real HTTP API on a free port."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, replace

import pytest
from api_support import TOKEN, Publisher, free_port, wait_for

from gateway.api import serve
from gateway.config import GatewayConfig
from gateway.daemon import Daemon


@dataclass
class Gateway:
    daemon: Daemon
    url: str
    site: str


@pytest.fixture
def gateway(tmp_path, monkeypatch):
    monkeypatch.setenv("REVERBERE_API_TOKEN", TOKEN)
    site = "api" + uuid.uuid4().hex[:8]
    port = free_port()
    config = replace(
        GatewayConfig(),
        db="sqlite:///%s" % (tmp_path / "inventory.db"),
        client_id="t-gw-" + uuid.uuid4().hex[:8],
        sites=(site,),
        http="127.0.0.1:%d" % port,
        session_expiry_s=0,
        forward=("file://%s" % (tmp_path / "north.jsonl"),),
    )
    subscribed = threading.Event()

    def hook(daemon, host, port):
        # Publishing before ingest's SUBACK would lose messages: note when the subscription is granted.
        daemon.ingest.client.on_subscribe = lambda *_: subscribed.set()
        return serve(daemon, host, port)

    daemon = Daemon(config, http_hook=hook)
    runner = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    runner.start()
    url = "http://127.0.0.1:%d" % port
    wait_for(lambda: subscribed.is_set() and daemon._http.api.tap.connected, what="gateway and API up")
    yield Gateway(daemon, url, site)
    daemon.stop()
    runner.join(15)


@pytest.fixture
def publisher():
    pub = Publisher()
    yield pub
    pub.close()
