"""`reverbere deploy` through the real entry point against a blank simulated board."""

import json

import pytest
from deploykit import BOARD, Births, blank_board, unique_site

from gateway.cli.main import main


def run(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


@pytest.fixture
def board(tmp_path):
    board = blank_board(tmp_path / "flash")
    yield board
    board.close()


def test_deploy_json_events_then_the_node_is_online(board, capsys):
    site = unique_site()
    births = Births(site)
    try:
        code, out, err = run(["deploy", "--board", BOARD, "--port", board.port, "--role", "sensor",
                              "--device-id", "kiosk-1", "--site", site, "--mqtt-url", "mqtt://127.0.0.1:1883",
                              "--ssid", "street", "--wifi-password", "lamp-post", "--mpy", "--json"], capsys)
        assert code == 0, err
        events = [json.loads(line) for line in out.splitlines()]
        assert events[0]["event"] == "plan" and events[-1]["event"] == "done"
        assert events[-1]["skipped"] == 0 and len(events[-1]["written"]) == events[0]["files"]
        assert sum(e["event"] == "verified" for e in events) == events[0]["files"]
        cfg = json.loads((board.board_dir / "config.json").read_text())
        assert cfg["node"] == {"id": "kiosk-1", "site": site}
        assert cfg["mqtt"] == {"host": "127.0.0.1", "port": 1883, "tls": False}
        assert births.arrived.wait(60), board.console_text()[-2000:]
    finally:
        births.close()
    code, out, err = run(["deploy", "--board", BOARD, "--port", board.port, "--device-id", "kiosk-1",
                          "--site", site, "--mqtt-url", "mqtt://127.0.0.1:1883", "--ssid", "street",
                          "--wifi-password", "lamp-post", "--mpy", "--no-reset"], capsys)
    assert code == 0, err
    assert "deployed 0 files" in out


def test_deploy_errors_have_documented_exit_codes(board, capsys):
    code, _, err = run(["deploy", "--board", BOARD, "--port", board.port, "--role", "luminaire"], capsys)
    assert code == 2 and "luminaire" in err
    code, _, err = run(["deploy", "--board", BOARD, "--port", board.port, "--mqtt-url", "http://x"], capsys)
    assert code == 2 and "mqtt://" in err
    code, _, err = run(["deploy", "--board", BOARD, "--port", "/dev/no-such-port"], capsys)
    assert code == 3
