"""`reverbere check <device>` against a real gateway daemon and API (local Mosquitto, SQLite inventory)
and a node deployed to a simulated board: the inventory record, then identify and status round trips
answered by the real firmware."""

import json
import socket
import threading
import time
import uuid
from dataclasses import replace

import pytest
from deploykit import blank_board, online_plan

from gateway.api import serve
from gateway.cli.main import main
from gateway.client import ApiClient
from gateway.config import GatewayConfig
from gateway.daemon import Daemon
from gateway.errors import NotFound
from gateway.field.check import check
from gateway.field.deploy import deploy
from gateway.field.rawrepl import RawRepl

TOKEN = "field-check-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, timeout_s=30.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s" % what)


def run(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


@pytest.fixture
def gateway(tmp_path, monkeypatch):
    monkeypatch.setenv("REVERBERE_API_TOKEN", TOKEN)
    site = "chk" + uuid.uuid4().hex[:8]
    port = free_port()
    config = replace(GatewayConfig(), db="sqlite:///%s" % (tmp_path / "inventory.db"),
                     client_id="t-chk-" + uuid.uuid4().hex[:8], sites=(site,), http="127.0.0.1:%d" % port,
                     session_expiry_s=0, forward=("file://%s" % (tmp_path / "north.jsonl"),))
    subscribed = threading.Event()

    def hook(daemon, host, http_port):
        daemon.ingest.client.on_subscribe = lambda *_: subscribed.set()
        return serve(daemon, host, http_port)

    daemon = Daemon(config, http_hook=hook)
    runner = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    runner.start()
    url = "http://127.0.0.1:%d" % port
    wait_for(lambda: subscribed.is_set() and daemon._http.api.tap.connected, what="gateway and API up")
    yield url, site
    daemon.stop()
    runner.join(15)


def test_check_reports_the_inventory_and_a_live_round_trip(gateway, tmp_path, capsys):
    url, site = gateway
    board = blank_board(tmp_path / "flash")
    try:
        with RawRepl.open(board.port) as repl:
            deploy(repl, online_plan(site, "bench-21", mpy=True))
        with ApiClient(url, TOKEN) as api:
            wait_for(lambda: _known(api, "bench-21"), 60, "the node in the inventory")
            result = check(api, "bench-21", timeout_s=15)
        assert result["device"]["site"] == site
        assert result["ok"], result
        assert result["identify"] and result["status"]
        code, out, err = run(["check", "bench-21", "--gateway-api", url, "--json"], capsys)
        assert code == 0, err
        assert json.loads(out)["ok"] is True
    finally:
        board.close()
    # The node is gone: the inventory still answers, the round trip fails with the timeout exit code.
    code, out, _ = run(["check", "bench-21", "--gateway-api", url, "--json", "--timeout", "1"], capsys)
    assert code == 4 and json.loads(out)["identify"]["kind"] == "Timeout"


def _known(api, node_id):
    try:
        return api.device(node_id)
    except NotFound:
        return None


def test_check_unknown_device_and_absent_api(gateway, capsys):
    url, _ = gateway
    code, _, err = run(["check", "nobody-here", "--gateway-api", url], capsys)
    assert code == 3 and "does not know nobody-here" in err
    code, _, err = run(["check", "bench-1", "--gateway-api", "http://127.0.0.1:%d" % free_port()], capsys)
    assert code == 7 and "gateway API" in err
