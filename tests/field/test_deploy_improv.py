"""Deploy without network settings, then Improv at boot, all through the simulated board's own pty: the
deployed firmware disarms Ctrl-C and serves Improv on the console until provisioned, resets, and boots into a
node online with the provisioned identity; the tools' raw REPL entry still breaks out for a new deploy."""

import json

import pytest
from deploykit import BOARD, Births, blank_board, unique_site

from boards.loader import load_named
from gateway.field.deploy import deploy, make_plan
from gateway.field.improv import ImprovClient, SerialLink
from gateway.field.provision import Plan, provision
from gateway.field.rawrepl import RawRepl
from protocols import improv

pytestmark = pytest.mark.micropython


@pytest.fixture
def waiting_board(tmp_path):
    """A blank board just deployed without Wi-Fi or MQTT: after the reset it waits for Improv."""
    board = blank_board(tmp_path / "flash")
    try:
        # Only what the simulated world needs beyond the deploy: no NTP server, no start-up jitter.
        plan = make_plan(load_named(BOARD), mpy=True, settings={"ntp": {"host": None}, "startup_delay_ms": 0})
        with RawRepl.open(board.port) as repl:
            deploy(repl, plan, reset=True)
        yield board
    finally:
        board.close()


def test_deployed_board_is_provisioned_over_improv_on_its_pty_then_online(waiting_board):
    board = waiting_board
    site = unique_site()
    births = Births(site)
    try:
        interrupts = board.link.interrupts
        improv_plan = Plan(ssid="street", password="lamp-post", device_id="bollard-4", site=site, lat=50.6372,
                           lon=3.0633, asset="bollard-4", mqtt_url="mqtt://127.0.0.1:1883")
        link = SerialLink.open(board.port)
        with ImprovClient(link, timeout=10) as client:
            assert link.wait_listening(30) == improv.STATE_READY   # announced once the firmware listens
            held = provision(client, improv_plan)
        assert held["device_id"] == "bollard-4"
        # Every RPC frame carries 0x03: it reached Improv as data, not the board as an interrupt.
        assert board.link.interrupts == interrupts and board.link.ctrl_c_bytes >= 4
        assert births.arrived.wait(60), board.console_text()[-2000:]   # reset by itself, then online
        assert births.topics[0] == "rvb/v1/%s/bollard-4/birth" % site
    finally:
        births.close()
    cfg = json.loads((board.board_dir / "config.json").read_text())
    assert cfg["node"]["id"] == "bollard-4" and cfg["mqtt"]["host"] == "127.0.0.1"
    assert cfg["role"]["name"] == "sensor"
    assert board.starts >= 3   # power-on, the deploy's soft reset, the reset after provisioning


def test_raw_repl_entry_breaks_out_of_improv_for_a_new_deploy(waiting_board):
    board = waiting_board
    link = SerialLink.open(board.port)
    try:
        link.wait_listening(30)
    finally:
        link.close()
    resets = board.resets
    with RawRepl.open(board.port, timeout=10) as repl:
        repl.enter()   # CR, Ctrl-C, Ctrl-C: the responder re-arms Ctrl-C and gives the console back
        assert repl.exec("print('console', 6 * 7)").strip() == b"console 42"
    assert "KeyboardInterrupt" in board.console_text()
    assert board.alive() and board.resets == resets   # interrupted into the REPL, not provisioned and reset
    cfg = json.loads((board.board_dir / "config.json").read_text())
    assert "wifi" not in cfg
