"""Deploy without network settings, then Improv at boot: the deployed firmware serves Improv on the
console until provisioned, resets, and boots into a node online with the provisioned identity."""

import json

import pytest
from deploykit import BOARD, Births, ConsoleOnPty, blank_board, unique_site

from boards.loader import load_named
from gateway.field.deploy import deploy, make_plan
from gateway.field.improv import ImprovClient, SerialLink
from gateway.field.provision import Plan, provision
from gateway.field.rawrepl import RawRepl
from sim.board_process import BoardProcess


@pytest.fixture
def deployed_flash(tmp_path):
    board = blank_board(tmp_path / "flash")
    try:
        # Only what the simulated world needs beyond the deploy: no NTP server, no start-up jitter.
        plan = make_plan(load_named(BOARD), mpy=True, settings={"ntp": {"host": None}, "startup_delay_ms": 0})
        with RawRepl.open(board.port) as repl:
            deploy(repl, plan, reset=False)
    finally:
        board.close()
    return board.board_dir


def test_deployed_board_without_network_is_provisioned_over_improv_then_online(deployed_flash):
    site = unique_site()
    console = ConsoleOnPty(deployed_flash)
    try:
        improv_plan = Plan(ssid="street", password="lamp-post", device_id="bollard-4", site=site, lat=50.6372,
                           lon=3.0633, asset="bollard-4", mqtt_url="mqtt://127.0.0.1:1883")
        with ImprovClient(SerialLink.open(console.port), timeout=10) as client:
            held = provision(client, improv_plan)
        assert held["device_id"] == "bollard-4"
        console.wait(10)   # provisioned and saved: the firmware resets
    finally:
        console.close()
    assert (deployed_flash / ".reset").exists()
    cfg = json.loads((deployed_flash / "config.json").read_text())
    assert cfg["node"]["id"] == "bollard-4" and cfg["mqtt"]["host"] == "127.0.0.1"
    assert cfg["role"]["name"] == "sensor"
    births = Births(site)
    node = BoardProcess(deployed_flash).start()
    try:
        assert births.arrived.wait(60), node.console_text()[-2000:]
        assert births.topics[0] == "rvb/v1/%s/bollard-4/birth" % site
    finally:
        node.kill()
        births.close()


def test_raw_repl_entry_breaks_out_of_improv_for_a_new_deploy(deployed_flash):
    console = ConsoleOnPty(deployed_flash)
    try:
        with RawRepl.open(console.port, timeout=3) as repl:
            # Wait for the responder, then the tools' raw REPL entry: CR, Ctrl-C, Ctrl-C.
            repl.read_until(b"Improv serial on the console")
            repl.link.write(b"\r\x03\x03")
            out = repl.read_until(b"KeyboardInterrupt", timeout=10)
        assert b"Traceback" in out
        console.wait(10)   # run as a script here, the interpreter ends where a board opens its REPL
        assert not (deployed_flash / ".reset").exists()   # interrupted, not provisioned and reset
    finally:
        console.close()
