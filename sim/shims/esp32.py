"""``esp32`` for a simulated board: RMT (what it is told to send goes to the simulator's optical medium
when sim.json wires one, see sim/devices/optical.py) and NVS (one JSON file per namespace in the board's
flash directory)."""

import json

import _board


class RMT:
    def __init__(self, channel, pin=None, clock_div=8, idle_level=False, tx_carrier=None):
        self.channel = channel
        self.pin = pin
        self.clock_div = clock_div
        self.idle_level = idle_level
        self.sent = 0           # pulse trains written
        self.last = None        # (durations, data) of the last one
        self._optical = None    # the optical medium's transmitter, found at the first write

    @staticmethod
    def source_freq():
        return 80000000

    def write_pulses(self, duration, data=True):
        self.last = (duration, data)
        self.sent += 1
        if self._optical is None:
            self._optical = (_board.devices.optical_tx(_board.DIR) if _board.devices else None) or False
        if self._optical:
            # Pulses in APB ticks divided by clock_div; `data` is the first pulse's level.
            self._optical.pulses(duration, data, 80000000 // self.clock_div)

    def wait_done(self, timeout=0):
        return True

    def loop(self, enable):
        pass

    def deinit(self):
        pass


class NVS:
    def __init__(self, namespace):
        self._path = "%s/nvs-%s.json" % (_board.DIR, namespace)
        try:
            with open(self._path) as f:
                self._data = json.load(f)
        except (OSError, ValueError):
            self._data = {}
        self._pending = dict(self._data)

    def set_i32(self, key, value):
        self._pending[key] = int(value)

    def get_i32(self, key):
        if key not in self._data:
            raise OSError(-0x1102)  # ESP_ERR_NVS_NOT_FOUND
        return self._data[key]

    def set_blob(self, key, value):
        self._pending[key] = bytes(value).hex()

    def get_blob(self, key, buffer):
        if key not in self._data:
            raise OSError(-0x1102)
        data = bytes.fromhex(self._data[key])
        buffer[:len(data)] = data
        return len(data)

    def erase_key(self, key):
        self._pending.pop(key, None)

    def commit(self):
        with open(self._path + ".tmp", "w") as f:
            json.dump(self._pending, f)
        import os
        os.rename(self._path + ".tmp", self._path)
        self._data = dict(self._pending)
