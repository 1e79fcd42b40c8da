"""``network`` for a simulated board: a station interface whose link the simulator controls.

The link is down while ``<board>/link-down`` exists (fault injection: network partition); its RSSI
is the integer in ``<board>/rssi`` when present. The access points in range are ``<board>/wifi.json``
when present (``[[ssid, password, rssi], ...]``): then a join needs one's SSID and password, as on site,
and a scan lists them; without it any join succeeds and a scan finds nothing.
"""

import json
import os

import _board

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _access_points():
    try:
        with open(_board.DIR + "/wifi.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class WLAN:
    def __init__(self, interface=STA_IF):
        if interface != STA_IF:
            raise OSError("the simulated board offers the station interface only")
        self._active = False
        self._ssid = None
        self._refused = None

    def active(self, value=None):
        if value is None:
            return self._active
        self._active = bool(value)

    def connect(self, ssid=None, key=None, **kwargs):
        networks = _access_points()
        self._refused = None
        if networks is not None and [ssid, key or ""] not in [n[:2] for n in networks]:
            # As the ESP32 reports a failed join: no such network, or it refused the password.
            self._refused = STAT_WRONG_PASSWORD if ssid in [n[0] for n in networks] else STAT_NO_AP_FOUND
            self._ssid = None
            return
        self._ssid = ssid

    def scan(self):
        # (ssid, bssid, channel, RSSI, security, hidden), as the ESP32 port returns them
        return [(n[0].encode(), bytes(6), 1, n[2], 3 if n[1] else 0, False) for n in _access_points() or ()]

    def disconnect(self):
        self._ssid = None
        self._refused = None

    def isconnected(self):
        return self._active and self._ssid is not None and not _exists(_board.DIR + "/link-down")

    def status(self, param=None):
        if param == "rssi":
            try:
                with open(_board.DIR + "/rssi") as f:
                    return int(f.read())
            except (OSError, ValueError):
                return -62
        if self._refused:
            return self._refused
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
