"""Improv over BLE: the GATT service, its packet checksum and the client's event mapping, on bumble's
in-process virtual controllers (no adapter here). bleak's own path (BleLink) stays a thin shell over
the same ble_event mapping and is not run."""

import json
import time

import pytest
from blekit import BumbleLink
from fieldkit import PASSWORD, SSID, deployed_config

from gateway.errors import ProtocolError
from gateway.field.improv import ImprovClient, WrongCredentials, ble_event
from gateway.field.provision import Plan, provision
from protocols import improv


class ShimWLAN:
    """The radio stand-in: joins when the SSID and password match."""

    def __init__(self):
        self.joined = False

    def active(self, value=None):
        return True

    def connect(self, ssid, key):
        self.joined = (ssid, key) == (SSID, PASSWORD)

    def isconnected(self):
        return self.joined

    def disconnect(self):
        self.joined = False

    def scan(self):
        return [(b"rvb-field", b"\0" * 6, 6, -52, 3, False)]


@pytest.fixture
def ble(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(deployed_config()))
    link = BumbleLink(ShimWLAN(), str(path))
    with ImprovClient(link, timeout=5) as client:
        yield client, link, path


def test_provisioning_over_gatt_writes_the_config(ble):
    client, _, path = ble
    assert client.current_state() == "ready"
    assert client.device_info().name == "ble-node"
    assert client.scan_networks() == [{"ssid": "rvb-field", "rssi": -52, "secured": True}]
    plan = Plan(ssid=SSID, password=PASSWORD, device_id="lamp-0100", site="roubaix", lat=50.69, lon=3.18,
                asset="mast-9", mqtt_url="mqtts://gw.example", mqtt_password="pw")
    held = provision(client, plan)
    assert held["stored"] == "saved" and held["mqtt_url"] == "mqtts://gw.example:8883"
    assert client.current_state() == "provisioned"
    assert json.loads(path.read_text())["node"]["asset"] == "mast-9"


def test_wrong_credentials_over_gatt(ble):
    client, _, _ = ble
    with pytest.raises(WrongCredentials):
        client.send_wifi(SSID, "nope")
    assert client.current_state() == "ready"


def test_a_packet_with_a_bad_checksum_sets_the_error_characteristic(ble):
    client, link, _ = ble
    packet = bytearray(improv.ble_rpc(improv.CMD_DEVICE_INFO))
    packet[-1] ^= 0x0F
    link.write_raw(bytes(packet))
    event = link.next_event(time.monotonic() + 5)
    assert event == (improv.TYPE_ERROR_STATE, bytes((improv.ERROR_INVALID_RPC,)))
    assert link.peripheral.rejected_packets == 1
    assert client.device_info().firmware == "reverbere"


def test_ble_event_checks_the_result_checksum():
    good = improv.ble_rpc(improv.CMD_DEVICE_INFO, improv.pack_strings(["a"]))
    assert ble_event(improv.TYPE_RPC_RESULT, good) == (improv.TYPE_RPC_RESULT, good[:-1])
    with pytest.raises(ProtocolError, match="garbled"):
        ble_event(improv.TYPE_RPC_RESULT, good[:-1] + b"\x00")
