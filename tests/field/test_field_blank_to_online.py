"""Issue 7's field path end to end, through the real entry point: `reverbere sim board --blank` (a freshly
flashed board, its console on a pty, Ctrl-C handled as the chip does), `reverbere deploy`, then ONE
`reverbere provision --wait-online` that gives Wi-Fi, identity, position and MQTT credentials over Improv,
registers the node with the running gateway's API and returns once the gateway has the node online."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from deploykit import BOARD, unique_site
from gatewaykit import TOKEN, RunningGateway

from gateway.cli.main import main
from gateway.client import ApiClient

pytestmark = pytest.mark.micropython

LAT, LON = 50.6365, 3.0635
ASSET = "bollard-rue-nationale-21"


def run(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


@pytest.fixture
def gateway(tmp_path):
    running = RunningGateway(tmp_path, unique_site())
    yield running
    running.close()


class SimBoardCommand:
    """`reverbere sim board --blank --board B --dir D` in its own process, as a developer starts one."""

    def __init__(self, flash: Path):
        self.board_dir = flash
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli.main", "sim", "board", "--blank", "--board", BOARD,
             "--dir", str(flash)], stdout=subprocess.PIPE, text=True)
        self.port = self.process.stdout.readline().strip()
        assert self.port.startswith("/dev/"), "no port printed by reverbere sim board"

    def console_text(self) -> str:
        return (self.board_dir / "console.log").read_text(errors="replace")

    def close(self) -> None:
        self.process.send_signal(signal.SIGINT)   # its KeyboardInterrupt powers the board off
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


@pytest.fixture
def board(tmp_path):
    board = SimBoardCommand(tmp_path / "flash")
    yield board
    board.close()


def test_blank_board_deployed_then_one_provision_command_brings_it_online(gateway, board, capsys):
    code, out, err = run(["deploy", "--board", BOARD, "--port", board.port, "--mpy", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["event"] == "done"
    cfg = json.loads((board.board_dir / "config.json").read_text())
    assert "wifi" not in cfg and "mqtt" not in cfg   # nothing to connect with until provisioned

    code, out, err = run(["provision", "--port", board.port, "--ssid", "street", "--password", "lamp-post",
                          "--device-id", "bollard-21", "--site", gateway.site, "--lat", str(LAT),
                          "--lon", str(LON), "--asset", ASSET, "--mqtt-url", "mqtt://127.0.0.1:1883",
                          "--gateway-api", gateway.url, "--token", TOKEN, "--wait-online", "40", "--json"],
                         capsys)
    assert code == 0, err + board.console_text()[-2000:]
    result = json.loads(out)
    assert (result["state"], result["liveness"]) == ("active", "online")
    assert result["settings"]["stored"] == "saved"
    assert "waiting for bollard-21 online" in err   # progress on stderr, the result alone on stdout
    on_flash = json.loads((board.board_dir / "config.json").read_text())
    assert on_flash["mqtt"]["password"] == result["mqtt_password"]
    assert on_flash["node"]["lat"] == LAT and on_flash["mqtt"]["user"] == "bollard-21"

    with ApiClient(gateway.url, TOKEN) as api:
        device = api.device("bollard-21")
        assert device["location"] == [LON, LAT]
        assert (device["asset"], device["site"], device["state"]) == (ASSET, gateway.site, "active")
        assert (device["role"], device["board"]) == ("sensor", BOARD)   # from the node's own birth
        events = [h["event"] for h in api.history("bollard-21")]
        assert "import" in events
        # A field node reports every minute: ask it, through the gateway, for a reading every second;
        # its data reaches the gateway ...
        assert api.command("bollard-21", "period", {"s": 1}, timeout_s=10)["result"] == "ok"
        device = _until(lambda: api.device("bollard-21"), lambda d: d["seq"]["received"] > 0, 15)
        assert device["seq"]["received"] > 0, device
    # ... and goes north with the place and asset it was provisioned with.
    observations = _until(lambda: _observations(gateway.workdir / "north.jsonl", "bollard-21"), bool, 20)
    assert observations, "no observation of bollard-21 forwarded"
    first = observations[0]
    assert first["device"]["location"] == [LON, LAT] and first["device"]["asset"] == ASSET
    assert "temp" in {record["n"] for record in first["records"]}   # the board's soldered sensors answer


def _observations(path, node):
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [e["payload"] for e in entries if e["kind"] == "observation" and e["payload"]["node_id"] == node]


def _until(read, done, timeout):
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    return value
