"""Improv Wi-Fi client for the technician's CLI: one request/answer logic over two links.

`SerialLink` speaks the serial framing on any pyserial URL (a board's USB port, a simulated board's
pty); `BleLink` speaks the GATT service through bleak. Both turn what the device says into events
``(type, data)`` with the serial frame types, so `ImprovClient` does not care which link it has.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol, Self

from gateway.errors import InvalidInput, NotFound, ProtocolError, Timeout
from protocols import improv

Event = tuple[int, bytes]


class ImprovDeviceError(ProtocolError):
    """The device answered an Improv error state."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        name = improv.ERROR_NAMES.get(code, "error 0x%02x" % code)
        super().__init__("device reports %s%s" % (name, ": " + detail if detail else ""))


class WrongCredentials(ImprovDeviceError):
    """The device could not join the Wi-Fi network with the credentials given."""


def ble_event(kind: int, data: bytes) -> Event:
    """A notification of the Improv GATT service -> the event the serial framing would have carried
    (an RPC result loses its BLE checksum once checked)."""
    if kind != improv.TYPE_RPC_RESULT:
        return kind, data
    try:
        command, payload = improv.parse_ble_rpc(data)
    except improv.ImprovError as exc:
        raise ProtocolError("garbled RPC result from the device: %s" % exc) from exc
    return kind, improv.rpc(command, payload)


class Link(Protocol):
    def send_rpc(self, command: int, payload: bytes) -> None: ...

    def read_state(self) -> int | None:
        """The state when the link can read it directly (a BLE characteristic), else None."""

    def next_event(self, deadline: float) -> Event | None: ...

    def close(self) -> None: ...


class SerialLink:
    """Improv serial framing on a pyserial port; console text between frames is skipped and counted."""

    def __init__(self, port) -> None:
        self.port = port
        self.reader = improv.FrameReader()
        self._pending: deque[int] = deque()  # bytes read past the last frame returned

    @classmethod
    def open(cls, url: str, baudrate: int = 115200) -> SerialLink:
        import serial

        try:
            port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05)
        except (serial.SerialException, ValueError) as exc:
            raise NotFound("cannot open serial port %s: %s" % (url, exc)) from exc
        return cls(port)

    def read_state(self) -> int | None:
        return None  # over serial the state is asked for with an RPC

    def wait_listening(self, timeout: float, quiet_s: float = 2.0) -> int | None:
        """Wait before the first request until the device listens, since every RPC frame carries 0x03,
        the console's Ctrl-C: sent while the board boots it would interrupt the application instead.

        -> the state the responder announces when it starts, or None once the console has been quiet
        for ``quiet_s`` (a responder started earlier). Raises Timeout when the console keeps talking
        for ``timeout`` seconds without announcing Improv."""
        started = time.monotonic()
        quiet_until = started + quiet_s
        while True:
            now = time.monotonic()
            if now >= quiet_until:
                return None
            if now >= started + timeout:
                raise Timeout("the device kept printing for %.1f s and never started Improv" % timeout)
            data = self.port.read(max(1, min(self.port.in_waiting, 256)))
            if not data:
                continue
            quiet_until = time.monotonic() + quiet_s
            for at, byte in enumerate(data):
                try:
                    found = self.reader.push(byte)
                except improv.ChecksumError:
                    continue  # boot noise that happened to look like a frame
                if found is not None and found[0] == improv.TYPE_CURRENT_STATE and found[1]:
                    self._pending.extend(data[at + 1:])
                    return found[1][0]

    def send_rpc(self, command: int, payload: bytes) -> None:
        self.port.write(improv.frame(improv.TYPE_RPC, improv.rpc(command, payload)))
        self.port.flush()

    def next_event(self, deadline: float) -> Event | None:
        while True:
            while self._pending:
                byte = self._pending.popleft()
                try:
                    found = self.reader.push(byte)
                except improv.ChecksumError as exc:
                    raise ProtocolError("garbled answer from the device: %s" % exc) from exc
                if found is not None:
                    return found
            if time.monotonic() >= deadline:
                return None
            self._pending.extend(self.port.read(max(1, min(self.port.in_waiting, 256))))

    def close(self) -> None:
        self.port.close()


class BleLink:
    """The Improv GATT service through bleak, driven from a private event loop thread."""

    def __init__(self, address: str, connect_timeout: float = 20.0) -> None:
        from bleak import BleakClient

        self._events: queue.Queue[Event] = queue.Queue()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client = BleakClient(address, timeout=connect_timeout)
        try:
            self._run(self._start())
        except Exception as exc:  # bleak raises BleakError, TimeoutError, OSError by backend
            self.close()
            raise NotFound("cannot reach BLE device %s: %s" % (address, exc)) from exc

    def _run(self, coroutine, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _start(self) -> None:
        await self._client.connect()
        await self._client.start_notify(improv.BLE_CURRENT_STATE, self._on(improv.TYPE_CURRENT_STATE))
        await self._client.start_notify(improv.BLE_ERROR_STATE, self._on(improv.TYPE_ERROR_STATE))
        await self._client.start_notify(improv.BLE_RPC_RESULT, self._on(improv.TYPE_RPC_RESULT))

    def _on(self, kind: int):
        def handler(_characteristic, data: bytearray) -> None:
            self._events.put((kind, bytes(data)))

        return handler

    def read_state(self) -> int | None:
        return self._run(self._client.read_gatt_char(improv.BLE_CURRENT_STATE))[0]

    def send_rpc(self, command: int, payload: bytes) -> None:
        self._run(self._client.write_gatt_char(improv.BLE_RPC_COMMAND, improv.ble_rpc(command, payload),
                                               response=True))

    def next_event(self, deadline: float) -> Event | None:
        try:
            kind, data = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None
        return ble_event(kind, data)

    def close(self) -> None:
        if self._client.is_connected:
            self._run(self._client.disconnect())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@dataclass(frozen=True)
class DeviceInfo:
    firmware: str
    version: str
    chip: str
    name: str


class ImprovClient:
    """Improv requests with their answers; every wait is bounded by `timeout` seconds."""

    def __init__(self, link: Link, timeout: float = 5.0) -> None:
        self.link = link
        self.timeout = timeout
        self.state: int | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.link.close()

    def _results(self, command: int, payload: bytes, timeout: float | None, last) -> list[list[str]]:
        """Send one RPC and collect its results until ``last(strings)`` says the answer is complete."""
        self.link.send_rpc(command, payload)
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        results: list[list[str]] = []
        error = improv.ERROR_NONE
        while True:
            event = self.link.next_event(deadline)
            if event is None:
                if error:
                    raise ImprovDeviceError(error)
                raise Timeout("no Improv answer to RPC 0x%02x within %.1f s" % (command, wait))
            kind, data = event
            if kind == improv.TYPE_CURRENT_STATE and data:
                self.state = data[0]
                if command == improv.CMD_GET_STATE:
                    return [[improv.STATE_NAMES.get(data[0], str(data[0]))]]
            elif kind == improv.TYPE_ERROR_STATE and data and data[0] != improv.ERROR_NONE:
                if data[0] == improv.ERROR_UNABLE_TO_CONNECT:
                    raise WrongCredentials(data[0], "check the SSID and password")
                if data[0] != improv.ERROR_SETTINGS_REJECTED:
                    raise ImprovDeviceError(data[0])
                error = data[0]  # its reason follows as the RPC result
            elif kind == improv.TYPE_RPC_RESULT:
                try:
                    answered, body = improv.parse_rpc(data)
                    strings = improv.unpack_strings(body)
                except improv.ImprovError as exc:
                    raise ProtocolError("malformed RPC result: %s" % exc) from exc
                if answered != command:
                    continue  # a late answer to an earlier request
                if error:
                    raise ImprovDeviceError(error, "; ".join(strings))
                results.append(strings)
                if last(strings):
                    return results

    def current_state(self) -> str:
        state = self.link.read_state()
        if state is None:
            return self._results(improv.CMD_GET_STATE, b"", None, lambda s: True)[0][0]
        self.state = state
        return improv.STATE_NAMES.get(state, str(state))

    def device_info(self) -> DeviceInfo:
        strings = self._results(improv.CMD_DEVICE_INFO, b"", None, lambda s: True)[0]
        if len(strings) < 4:
            raise ProtocolError("device info carries %d strings, 4 expected" % len(strings))
        return DeviceInfo(*strings[:4])

    def scan_networks(self, timeout: float = 15.0) -> list[dict]:
        results = self._results(improv.CMD_SCAN_NETWORKS, b"", timeout, lambda s: not s)
        return [{"ssid": r[0], "rssi": int(r[1]), "secured": r[2] == "YES"} for r in results if len(r) == 3]

    def send_wifi(self, ssid: str, password: str, timeout: float = 30.0) -> None:
        self._results(improv.CMD_WIFI_SETTINGS, _pack([ssid, password]), timeout, lambda s: True)

    def set_identity(self, device_id: str, site: str, asset: str, lat: float, lon: float) -> str:
        strings = [device_id, site, asset, repr(float(lat)), repr(float(lon))]
        return self._results(improv.CMD_RVB_IDENTITY, _pack(strings), None, lambda s: True)[0][0]

    def set_mqtt(self, url: str, user: str, password: str) -> str:
        return self._results(improv.CMD_RVB_MQTT, _pack([url, user, password]), None, lambda s: True)[0][0]

    def settings(self) -> dict:
        strings = self._results(improv.CMD_RVB_SETTINGS, b"", None, lambda s: True)[0]
        if len(strings) != 8:
            raise ProtocolError("settings carry %d strings, 8 expected" % len(strings))
        keys = ("device_id", "site", "asset", "lat", "lon", "mqtt_url", "mqtt_user", "stored")
        return dict(zip(keys, strings, strict=True))


def _pack(strings: list[str]) -> bytes:
    try:
        payload = improv.pack_strings(strings)
    except improv.ImprovError as exc:
        raise InvalidInput(str(exc)) from exc
    if len(payload) > improv.MAX_DATA - 2:
        raise InvalidInput("settings take %d bytes; one Improv RPC holds %d" % (len(payload), improv.MAX_DATA - 2))
    return payload
