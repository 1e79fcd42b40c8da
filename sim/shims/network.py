"""``network`` for a simulated board: a station interface whose link the simulator controls.

The link is down while ``<board>/link-down`` exists (fault injection: network partition); its RSSI
is the integer in ``<board>/rssi`` when present.
"""

import os

import _board

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class WLAN:
    def __init__(self, interface=STA_IF):
        if interface != STA_IF:
            raise OSError("the simulated board offers the station interface only")
        self._active = False
        self._ssid = None

    def active(self, value=None):
        if value is None:
            return self._active
        self._active = bool(value)

    def connect(self, ssid=None, key=None, **kwargs):
        self._ssid = ssid

    def disconnect(self):
        self._ssid = None

    def isconnected(self):
        return self._active and self._ssid is not None and not _exists(_board.DIR + "/link-down")

    def status(self, param=None):
        if param == "rssi":
            try:
                with open(_board.DIR + "/rssi") as f:
                    return int(f.read())
            except (OSError, ValueError):
                return -62
        return STAT_GOT_IP if self.isconnected() else STAT_IDLE

    def config(self, name=None, **kwargs):
        if name == "mac":
            import machine
            return machine.unique_id()
        if name == "ssid":
            return self._ssid
        return None

    def ifconfig(self, value=None):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
