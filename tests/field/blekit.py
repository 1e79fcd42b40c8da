"""Improv over BLE without an adapter: two bumble devices on bumble's in-process virtual link.

The peripheral serves the Improv GATT service in front of the firmware's own Responder (run in
CPython here): an RPC written on the command characteristic is checked (BLE checksum) and handed to
the Responder as a serial frame; what the Responder answers is notified on the state, error or result
characteristic. The central is `BumbleLink`, a gateway.field.improv.Link like bleak's BleLink, so the
same ImprovClient drives it."""

import asyncio
import queue
import threading
import time

from bumble.device import Peer
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.testing.test_utils import TwoDevices

from firmware.improv import Responder
from gateway.field.improv import ble_event
from protocols import improv

_NOTIFY = Characteristic.Properties.READ | Characteristic.Properties.NOTIFY


class ImprovPeripheral:
    """The device side: GATT characteristics over a firmware Responder."""

    def __init__(self, device, wlan, config_path):
        self.device = device
        self.state = improv.STATE_READY
        self.error = improv.ERROR_NONE
        self.responder = Responder(self._from_responder, wlan, path=config_path,
                                   info=("reverbere", "0.1.0", "esp32", "ble-node"), connect_timeout_ms=100)
        self.reader = improv.FrameReader()
        self.pending = []
        self.chars = {
            improv.TYPE_CURRENT_STATE: Characteristic(improv.BLE_CURRENT_STATE, _NOTIFY, "READABLE",
                                                      CharacteristicValue(read=lambda c: bytes((self.state,)))),
            improv.TYPE_ERROR_STATE: Characteristic(improv.BLE_ERROR_STATE, _NOTIFY, "READABLE",
                                                    CharacteristicValue(read=lambda c: bytes((self.error,)))),
            improv.TYPE_RPC_RESULT: Characteristic(improv.BLE_RPC_RESULT, _NOTIFY, "READABLE", b""),
        }
        command = Characteristic(improv.BLE_RPC_COMMAND, Characteristic.Properties.WRITE, "WRITEABLE",
                                 CharacteristicValue(write=self._on_command))
        capabilities = Characteristic(improv.BLE_CAPABILITIES, Characteristic.Properties.READ, "READABLE",
                                      b"\x00")
        device.add_service(Service(improv.BLE_SERVICE, [*self.chars.values(), command, capabilities]))
        self.rejected_packets = 0

    def _from_responder(self, data):
        for kind, body in self.reader.feed(data):
            if kind == improv.TYPE_CURRENT_STATE:
                self.state = body[0]
            elif kind == improv.TYPE_ERROR_STATE:
                self.error = body[0]
            elif kind == improv.TYPE_RPC_RESULT:
                body = body + bytes((improv.checksum(body),))
            self.pending.append((self.chars[kind], body))

    def _on_command(self, connection, packet):
        try:
            command, payload = improv.parse_ble_rpc(bytes(packet))
        except improv.ImprovError:
            self.rejected_packets += 1
            self.error = improv.ERROR_INVALID_RPC
            self.pending.append((self.chars[improv.TYPE_ERROR_STATE], bytes((self.error,))))
        else:
            self.responder.receive(improv.frame(improv.TYPE_RPC, improv.rpc(command, payload)))
        asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self):
        while self.pending:
            characteristic, value = self.pending.pop(0)
            await self.device.notify_subscribers(characteristic, value)


class BumbleLink:
    """The central side, shaped like BleLink: a private loop thread, notifications into a queue."""

    def __init__(self, wlan, config_path):
        self.events = queue.Queue()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.peripheral = None
        self._run(self._start(wlan, config_path))

    def _run(self, coroutine, timeout=20):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _start(self, wlan, config_path):
        self.devices = TwoDevices()
        self.peripheral = ImprovPeripheral(self.devices[1], wlan, config_path)
        await self.devices.setup_connection()
        peer = Peer(self.devices.connections[0])
        # Results (device info, settings) exceed the default 23-byte ATT MTU; like bleak on BlueZ,
        # negotiate a larger one, else notifications arrive cut and fail their checksum.
        await peer.request_mtu(247)
        service = (await peer.discover_service(improv.BLE_SERVICE))[0]
        await service.discover_characteristics()
        self.chars = {}
        for uuid, kind in ((improv.BLE_CURRENT_STATE, improv.TYPE_CURRENT_STATE),
                           (improv.BLE_ERROR_STATE, improv.TYPE_ERROR_STATE),
                           (improv.BLE_RPC_RESULT, improv.TYPE_RPC_RESULT),
                           (improv.BLE_RPC_COMMAND, None)):
            characteristic = service.get_characteristics_by_uuid(uuid)[0]
            self.chars[uuid] = characteristic
            if kind is not None:
                await characteristic.subscribe(lambda value, kind=kind: self.events.put((kind, bytes(value))))

    def read_state(self):
        return self._run(self.chars[improv.BLE_CURRENT_STATE].read_value())[0]

    def write_raw(self, packet):
        self._run(self.chars[improv.BLE_RPC_COMMAND].write_value(packet, with_response=True))

    def send_rpc(self, command, payload):
        self.write_raw(improv.ble_rpc(command, payload))

    def next_event(self, deadline):
        try:
            kind, data = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None
        return ble_event(kind, data)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
