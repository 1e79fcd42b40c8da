"""The CLI's Improv client against the firmware's responder under the real micropython binary, over a pty."""

import json

import pytest
import serial
from fieldkit import PASSWORD, SSID, BoardOnPty, deployed_config

from firmware import config as firmware_config
from gateway.errors import InvalidInput, Timeout, VerificationFailed
from gateway.field.improv import ImprovClient, ImprovDeviceError, SerialLink, WrongCredentials
from gateway.field.provision import Plan, provision
from protocols import improv

pytestmark = pytest.mark.micropython


def plan(**changes):
    values = dict(ssid=SSID, password=PASSWORD, device_id="lamp-0042", site="lille-centre", lat=50.6365,
                  lon=3.0635, asset="pole-17", mqtt_url="mqtt://gw.example:1884", mqtt_password="s3cret")
    values.update(changes)
    return Plan(**values)


@pytest.fixture
def board(tmp_path):
    target = BoardOnPty(tmp_path, deployed_config())
    yield target
    target.close()


@pytest.fixture
def client(board):
    with ImprovClient(SerialLink.open(board.port), timeout=5) as improv_client:
        yield improv_client


def test_blank_deployed_board_is_provisioned_and_its_config_validates(board, client):
    assert client.current_state() == "ready"
    info = client.device_info()
    assert (info.firmware, info.chip, info.name) == ("reverbere", "esp32", "bench-node")
    assert client.scan_networks() == [{"ssid": "rvb-field", "rssi": -48, "secured": True},
                                      {"ssid": "cafe", "rssi": -81, "secured": False}]
    steps = []
    held = provision(client, plan(), steps.append)
    assert steps == ["wifi", "identity", "mqtt", "verify"]
    assert held["stored"] == "saved"
    assert held["mqtt_url"] == "mqtt://gw.example:1884"
    assert client.current_state() == "provisioned"
    on_flash = board.config()
    firmware_config.validate(on_flash)
    assert on_flash["wifi"] == {"ssid": SSID, "password": PASSWORD}
    assert on_flash["node"] == {"id": "lamp-0042", "site": "lille-centre", "asset": "pole-17",
                                "lat": 50.6365, "lon": 3.0635}
    assert on_flash["mqtt"] == {"host": "gw.example", "port": 1884, "tls": False, "user": "lamp-0042",
                                "password": "s3cret"}
    assert on_flash["role"]["name"] == "sensor"


def test_wrong_credentials_give_the_error_state_and_keep_the_board_ready(board, client):
    with pytest.raises(WrongCredentials, match="unable to connect") as raised:
        client.send_wifi(SSID, "not-the-password")
    assert raised.value.exit_code == 5
    assert client.current_state() == "ready"
    assert "wifi" not in board.config()


def test_bad_checksum_is_answered_with_invalid_rpc_and_the_link_recovers(board):
    port = serial.serial_for_url(board.port, timeout=2)
    corrupt = bytearray(improv.frame(improv.TYPE_RPC, improv.rpc(improv.CMD_DEVICE_INFO)))
    corrupt[-1] ^= 0xFF
    port.write(bytes(corrupt))
    reader = improv.FrameReader()
    answer = []
    while not answer:
        chunk = port.read(1)
        assert chunk, "no answer to a corrupted frame"
        # The state the responder announced as it started may come first.
        answer = [frame for frame in reader.feed(chunk) if frame[0] != improv.TYPE_CURRENT_STATE]
    assert answer == [(improv.TYPE_ERROR_STATE, bytes((improv.ERROR_INVALID_RPC,)))]
    with ImprovClient(SerialLink(port), timeout=5) as client:
        assert client.device_info().name == "bench-node"


def test_settings_the_config_refuses_are_reported_with_their_reason(client):
    with pytest.raises(ImprovDeviceError, match="settings rejected: latitude must be in") as raised:
        client.set_identity("lamp-0042", "lille-centre", "pole-17", 95.0, 3.0)
    assert raised.value.code == improv.ERROR_SETTINGS_REJECTED
    with pytest.raises(ImprovDeviceError, match="MQTT URL"):
        client.set_mqtt("http://gw.example", "u", "p")
    assert client.settings()["device_id"] == ""


def test_settings_stay_pending_on_a_board_not_yet_deployed(tmp_path):
    bare = BoardOnPty(tmp_path)
    try:
        with ImprovClient(SerialLink.open(bare.port), timeout=5) as client:
            assert client.set_identity("lamp-0042", "lille-centre", "pole-17", 50.6, 3.06) == "pending"
            assert client.set_mqtt("mqtts://gw.example", "lamp-0042", "pw") == "pending"
            assert client.settings()["mqtt_url"] == "mqtts://gw.example:8883"
        assert not (tmp_path / "config.json").exists()
    finally:
        bare.close()


def test_silent_port_times_out(tmp_path):
    import os
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        with ImprovClient(SerialLink.open(os.ttyname(slave)), timeout=0.3) as client, \
                pytest.raises(Timeout, match="no Improv answer"):
            client.current_state()
    finally:
        os.close(master)
        os.close(slave)


def test_plan_refuses_bad_input_before_touching_the_device():
    with pytest.raises(InvalidInput, match="site"):
        plan(site="Lille Centre")
    with pytest.raises(InvalidInput, match="out of range"):
        plan(lat=91.0)
    with pytest.raises(InvalidInput, match="mqtt://"):
        plan(mqtt_url="gw.example:1883")


def test_verification_notices_a_node_holding_other_values(board, client):
    client.send_wifi(SSID, PASSWORD)
    client.set_identity("lamp-0001", "lille-centre", "pole-17", 50.6365, 3.0635)

    class Forgetful(ImprovClient):
        def set_identity(self, *args):  # the node keeps what it held before
            return "saved"

    forgetful = Forgetful(client.link, timeout=5)
    with pytest.raises(VerificationFailed, match="device_id"):
        provision(forgetful, plan())
    assert json.loads((board.flash_dir / "config.json").read_text())["node"]["id"] == "lamp-0001"
