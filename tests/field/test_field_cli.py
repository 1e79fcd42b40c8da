"""`reverbere boards|flash|provision|scan|console` through the real entry point; provisioning against a
simulated board's own pty (its firmware waiting for Improv) or the responder alone on a plain pty."""

import json

import pytest
from deploykit import unique_site, waiting_for_improv
from fakeloader import micropython_like_image
from fieldkit import PASSWORD, SSID, BoardOnPty, deployed_config

from gateway.cli.main import main
from gateway.field.improv import ImprovClient, SerialLink
from gateway.inventory import open_store

pytestmark = pytest.mark.micropython


def run(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def test_boards_list_and_show(capsys):
    code, out, _ = run(["boards", "list", "--json"], capsys)
    assert code == 0
    listed = {b["name"]: b for b in json.loads(out)}
    assert listed["esp32c3-sensor"]["flash_offset"] == 0
    assert listed["esp32-devkitc-sensor"]["chip"] == "esp32"
    code, out, _ = run(["boards", "show", "luminaire-controller", "--json"], capsys)
    assert code == 0 and json.loads(out)["definition"]["board"]["role"] == "luminaire"
    code, out, err = run(["boards", "show", "no-such-board", "--json"], capsys)
    assert code == 3 and json.loads(out)["error"] == "NotFound" and "shipped boards" in err


def test_boards_list_human_output_has_no_colour_codes_under_no_color(capsys, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    code, out, _ = run(["boards", "show", "esp32c3-sensor"], capsys)
    assert code == 0 and "flash_offset 0x0" in out and "\x1b[" not in out


def test_flash_refuses_a_bad_image_and_a_missing_device(tmp_path, capsys):
    bad = tmp_path / "index.html"
    bad.write_bytes(b"<html>not found</html>")
    code, out, _ = run(["flash", "--board", "esp32-devkitc-sensor", "--port", "/dev/null-port", "--firmware",
                        str(bad), "--json"], capsys)
    assert code == 2 and json.loads(out.splitlines()[-1])["error"] == "BadImage"
    good = tmp_path / "firmware.bin"
    good.write_bytes(micropython_like_image("esp32"))
    code, out, err = run(["flash", "--board", "esp32-devkitc-sensor", "--port", str(tmp_path / "ttyUSB9"),
                          "--firmware", str(good)], capsys)
    assert code == 3 and "no ESP bootloader answers" in err


def test_flash_json_streams_progress_events_from_esptool(tmp_path, capsys, monkeypatch):
    from fakeloader import fake_loader

    from gateway.field import flash

    loader = fake_loader("esp32c3")
    monkeypatch.setattr(flash, "connect_bootloader", lambda port, baud: loader)
    image = tmp_path / "firmware.bin"
    image.write_bytes(micropython_like_image("esp32c3"))
    capsys.readouterr()  # esptool's merge_bin prints hints while the image is built
    code, out, err = run(["flash", "--board", "esp32c3-sensor", "--port", "/dev/ttyACM0", "--firmware", str(image),
                          "--json"], capsys)
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1] == {"event": "done", "board": "esp32c3-sensor", "chip": "esp32c3", "port": "/dev/ttyACM0",
                          "offset": 0, "size": image.stat().st_size, "erased": False}
    progress = [e for e in events if e["event"] == "progress"]
    assert progress and progress[-1]["done"] == progress[-1]["total"]
    assert loader.flash[:image.stat().st_size] == image.read_bytes()


def test_provision_over_the_console_registers_the_node_with_its_place(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("REVERBERE_API", raising=False)
    board = waiting_for_improv(tmp_path / "flash")
    site = unique_site()
    db = "sqlite:///" + str(tmp_path / "inventory.db")
    try:
        code, out, err = run(["provision", "--port", board.port, "--ssid", SSID, "--password", PASSWORD,
                              "--device-id", "bench-0007", "--site", site, "--lat", "50.6372",
                              "--lon", "3.0633", "--asset", "bench-grand-place-3", "--mqtt-url",
                              "mqtt://127.0.0.1:1883", "--db", db, "--json"], capsys)
        assert code == 0, err + board.console_text()[-2000:]
        result = json.loads(out)
        assert result["registered"] and result["state"] == "active"
        assert result["settings"]["stored"] == "saved"
        on_flash = json.loads((board.board_dir / "config.json").read_text())
        assert on_flash["mqtt"]["password"] == result["mqtt_password"] and len(result["mqtt_password"]) >= 20
        assert on_flash["wifi"] == {"ssid": SSID, "password": PASSWORD}
        assert board.link.interrupts == 0   # every 0x03 of Improv reached the responder as data
    finally:
        board.close()
    store = open_store(db)
    try:
        row = store.get_device("bench-0007")
        assert (row["site"], row["lat"], row["lon"], row["asset"]) == \
            (site, 50.6372, 3.0633, "bench-grand-place-3")
        assert [h["event"] for h in store.history("bench-0007")] == ["import"]
    finally:
        store.close()


def test_provision_registers_through_the_gateway_api(tmp_path, capsys):
    from gateway.api.app import Api
    from gateway.api.server import ApiServer
    from gateway.counters import Counters

    store = open_store("sqlite:///" + str(tmp_path / "inventory.db"))
    server = ApiServer(Api(store, Counters(), [], "field-token"), "127.0.0.1", 0).start()
    (tmp_path / "flash").mkdir()
    board = BoardOnPty(tmp_path / "flash", deployed_config())
    try:
        code, out, err = run(["provision", "--port", board.port, "--ssid", SSID, "--password", PASSWORD,
                              "--device-id", "lamp-0311", "--site", "tourcoing", "--lat", "50.7239", "--lon",
                              "3.1612", "--asset", "mast-311", "--mqtt-url", "mqtt://127.0.0.1",
                              "--mqtt-password", "given-pw", "--gateway-api", server.url, "--token",
                              "field-token", "--json"], capsys)
        assert code == 0, err
        result = json.loads(out)
        assert result["registered"] and "mqtt_password" not in result
        row = store.get_device("lamp-0311")
        assert (row["state"], row["site"], row["lat"], row["lon"], row["asset"]) == \
            ("active", "tourcoing", 50.7239, 3.1612, "mast-311")
        code, _, err = run(["provision", "--port", board.port, "--ssid", SSID, "--password", PASSWORD,
                            "--device-id", "lamp-0312", "--site", "tourcoing", "--lat", "50.7", "--lon", "3.16",
                            "--asset", "mast-312", "--mqtt-url", "mqtt://127.0.0.1", "--gateway-api", server.url,
                            "--token", "wrong-token"], capsys)
        assert code != 0
        assert [d["id"] for d in store.list_devices()] == ["lamp-0311"]
    finally:
        board.close()
        server.close()
        store.close()


def test_provision_with_wrong_wifi_credentials_fails_with_protocol_exit_code(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("REVERBERE_API", raising=False)
    board = waiting_for_improv(tmp_path / "flash")
    db = "sqlite:///" + str(tmp_path / "inventory.db")
    try:
        code, _, err = run(["provision", "--port", board.port, "--ssid", SSID, "--password", "wrong",
                            "--device-id", "bench-0008", "--site", "lille-centre", "--lat", "50.6",
                            "--lon", "3.06", "--asset", "bench-1", "--mqtt-url", "mqtt://127.0.0.1",
                            "--db", db], capsys)
        assert code == 5 and "unable to connect" in err
        # Still waiting for Improv with nothing kept: ready, and the networks in range are there to pick.
        with ImprovClient(SerialLink.open(board.port), timeout=5) as client:
            assert client.current_state() == "ready"
            assert client.scan_networks() == [{"ssid": SSID, "rssi": -48, "secured": True},
                                              {"ssid": "cafe", "rssi": -81, "secured": False}]
        assert "wifi" not in json.loads((board.board_dir / "config.json").read_text())
        assert board.alive() and board.resets == 0
    finally:
        board.close()
    store = open_store(db)
    try:
        assert store.list_devices() == []
    finally:
        store.close()


def test_provision_wait_online_times_out_when_the_node_never_connects(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("REVERBERE_API", raising=False)
    board = BoardOnPty(tmp_path, deployed_config())   # the responder alone: nothing will ever connect
    db = "sqlite:///" + str(tmp_path / "inventory.db")
    try:
        code, out, err = run(["provision", "--port", board.port, "--ssid", SSID, "--password", PASSWORD,
                              "--device-id", "bench-0009", "--site", "lille-centre", "--lat", "50.6", "--lon",
                              "3.06", "--asset", "bench-9", "--mqtt-url", "mqtt://127.0.0.1", "--db", db,
                              "--wait-online", "1", "--json"], capsys)
    finally:
        board.close()
    assert code == 4 and "not online in the inventory within 1 s (liveness offline)" in err
    assert "… register" in err and json.loads(out)["error"] == "Timeout"
    store = open_store(db)
    try:
        assert store.get_device("bench-0009")["state"] == "active"   # registered before the wait
    finally:
        store.close()
    code, _, err = run(["provision", "--port", board.port, "--ssid", SSID, "--password", PASSWORD,
                        "--device-id", "n-1", "--site", "s", "--lat", "1", "--lon", "1", "--asset", "a",
                        "--mqtt-url", "mqtt://h", "--wait-online"], capsys)
    assert code == 2 and "--gateway-api or --db" in err


def test_provision_needs_exactly_one_link(capsys):
    code, _, err = run(["provision", "--ssid", SSID, "--password", PASSWORD, "--device-id", "n-1", "--site", "s",
                        "--lat", "1", "--lon", "1", "--asset", "a", "--mqtt-url", "mqtt://h"], capsys)
    assert code == 2 and "--port or --ble" in err


def test_scan_probes_a_given_port_for_improv(tmp_path, capsys, monkeypatch):
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", list)  # leave the machine's own ports alone
    board = BoardOnPty(tmp_path, deployed_config())
    try:
        code, out, _ = run(["scan", "--serial", "--port", board.port, "--timeout", "2", "--json"], capsys)
    finally:
        board.close()
    assert code == 0
    entry = next(e for e in json.loads(out)["serial"] if e["port"] == board.port)
    assert entry["improv"] == "ready" and entry["device"]["name"] == "bench-node"


def test_console_refuses_to_run_without_a_terminal(tmp_path, capsys):
    code, _, err = run(["console", "--port", str(tmp_path / "ttyUSB7")], capsys)
    assert code == 2 and "interactive terminal" in err  # pytest's stdin is no terminal
