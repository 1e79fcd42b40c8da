"""What is plugged in or nearby: serial ports with their USB identity and whether an Improv responder
answers on them, and BLE devices advertising the Improv service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from serial.tools import list_ports

from gateway.errors import ReverbereError, Unavailable
from gateway.field.improv import ImprovClient, SerialLink
from protocols import improv

# USB bridges found on ESP32 boards, by (VID, PID).
USB_BRIDGES = {
    (0x10C4, 0xEA60): "Silicon Labs CP210x",
    (0x1A86, 0x7523): "WCH CH340",
    (0x1A86, 0x55D4): "WCH CH9102",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6010): "FTDI FT2232",
    (0x303A, 0x1001): "Espressif USB JTAG/serial",
}


# The Improv advertisement carries state and capabilities as service data under the 16-bit UUID 0x4677.
IMPROV_SERVICE_DATA_UUID = "00004677-0000-1000-8000-00805f9b34fb"


def port_entry(port) -> dict:
    """A pyserial ListPortInfo -> a JSON-able description."""
    vid, pid = port.vid, port.pid
    return {"port": port.device, "vid": vid, "pid": pid,
            "usb": "%04x:%04x" % (vid, pid) if vid is not None else None,
            "bridge": USB_BRIDGES.get((vid, pid)), "serial_number": port.serial_number,
            "description": port.description}


def probe(url: str, timeout: float = 1.0) -> dict:
    """Ask ``url`` for its Improv state and device info -> {"improv": state, "device": {...}} or
    {"improv": None, "reason": why nothing usable answered}."""
    try:
        with ImprovClient(SerialLink.open(url), timeout=timeout) as client:
            state = client.current_state()
            info = client.device_info()
    except ReverbereError as exc:
        return {"improv": None, "reason": str(exc)}
    return {"improv": state, "device": {"firmware": info.firmware, "version": info.version,
                                        "chip": info.chip, "name": info.name}}


def scan_serial(extra: Iterable[str] = (), timeout: float = 1.0, with_probe: bool = True,
                ports: Callable[[], list] | None = None) -> list[dict]:
    """Every serial port (plus the ``extra`` URLs, e.g. a simulated board's pty), probed for Improv."""
    found = [port_entry(p) for p in (ports or list_ports.comports)()]
    found += [{"port": url, "vid": None, "pid": None, "usb": None, "bridge": None, "serial_number": None,
               "description": "given"} for url in extra]
    if with_probe:
        for entry in found:
            entry.update(probe(entry["port"], timeout))
    return found


def improv_state_from_service_data(data: bytes) -> str | None:
    """The Improv BLE advertisement's service data (state, capabilities, 4 reserved bytes) -> state name."""
    return improv.STATE_NAMES.get(data[0]) if data else None


def scan_ble(seconds: float = 5.0) -> list[dict]:
    """BLE devices advertising the Improv service, with their advertised state."""
    try:
        from bleak import BleakScanner

        seen = asyncio.run(BleakScanner.discover(timeout=seconds, return_adv=True,
                                                 service_uuids=[improv.BLE_SERVICE]))
    except Exception as exc:  # no adapter, no D-Bus: bleak's errors differ per backend
        raise Unavailable("BLE scan impossible here: %s" % exc) from exc
    devices = []
    for device, adv in seen.values():
        if improv.BLE_SERVICE not in [u.lower() for u in adv.service_uuids]:
            continue
        data = adv.service_data.get(IMPROV_SERVICE_DATA_UUID, b"")
        devices.append({"address": device.address, "name": adv.local_name or device.name, "rssi": adv.rssi,
                        "improv": improv_state_from_service_data(data)})
    return devices

