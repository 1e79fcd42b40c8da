"""Port listing with USB identity, the Improv BLE advertisement, and the console's terminal setup."""

import os
import tty
from types import SimpleNamespace

import pytest

from gateway.errors import InvalidInput, NotFound
from gateway.field import console, scan


def test_usb_bridges_are_named_from_vid_pid():
    cp2102 = SimpleNamespace(device="/dev/ttyUSB0", vid=0x10C4, pid=0xEA60, serial_number="0001",
                             description="CP2102 USB to UART Bridge Controller")
    entries = scan.scan_serial(ports=lambda: [cp2102], with_probe=False)
    assert entries == [{"port": "/dev/ttyUSB0", "vid": 0x10C4, "pid": 0xEA60, "usb": "10c4:ea60",
                        "bridge": "Silicon Labs CP210x", "serial_number": "0001",
                        "description": "CP2102 USB to UART Bridge Controller"}]


def test_probe_of_a_port_that_cannot_open_says_why():
    found = scan.probe("/dev/no-such-tty", timeout=0.2)
    assert found["improv"] is None and "cannot open serial port" in found["reason"]


def test_improv_advertisement_state():
    assert scan.improv_state_from_service_data(bytes([0x02, 0x01, 0, 0, 0, 0])) == "ready"
    assert scan.improv_state_from_service_data(bytes([0x04, 0x00, 0, 0, 0, 0])) == "provisioned"
    assert scan.improv_state_from_service_data(b"") is None


def test_console_port_opens_any_pty_and_a_missing_one_is_not_found(tmp_path):
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        link = console.open_port(os.ttyname(slave))
        try:
            os.write(master, b">>> ")
            assert link.read(4) == b">>> "
        finally:
            link.close()
    finally:
        os.close(master)
        os.close(slave)
    with pytest.raises(NotFound, match="cannot open"):
        console.open_port(str(tmp_path / "ttyUSB3"))


def test_console_without_a_terminal_says_so():
    with pytest.raises(InvalidInput, match="interactive terminal"):
        console.run_console("/dev/null")
