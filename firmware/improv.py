"""The on-chip Improv Wi-Fi serial responder: provisioning over the console UART.

It answers the standard RPCs (Wi-Fi settings, current state, device info, network scan) and the
Reverbère vendor RPCs (identity, MQTT; see protocols/improv.py), merging each into the node's config.
The config is replaced atomically (firmware/config.py) as soon as it validates; until the deploy step
has written the board and role sections it is held in RAM and reported as "pending".

Wi-Fi credentials are tried before they are kept: a failed join answers ERROR_UNABLE_TO_CONNECT and
the state goes back to READY, so a typo never bricks a node on a ladder.
"""

import json
import select
import sys
import time

from firmware import config
from protocols import improv

try:
    _ticks_ms = time.ticks_ms
    _ticks_diff = time.ticks_diff
    _sleep_ms = time.sleep_ms
except AttributeError:  # CPython, for tests of the pure parts
    def _ticks_ms():
        return int(time.monotonic() * 1000)

    def _ticks_diff(a, b):
        return a - b

    def _sleep_ms(ms):
        time.sleep(ms / 1000)

_IDENTITY_KEYS = ("node.id", "node.site", "node.asset", "node.lat", "node.lon")
# network.WLAN.status() of the ESP32 port once a join has failed: beacon timeout, no AP found, wrong
# password, association failed, handshake timeout. A failed join is known at once, not at the timeout.
_JOIN_FAILED = (200, 201, 202, 203, 204)


def _read_raw(path):
    """The config as stored, even if incomplete; {} for a blank board."""
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


def _set(cfg, key, value):
    section, _, name = key.rpartition(".")
    holder = cfg.get(section)
    if not isinstance(holder, dict):
        holder = cfg[section] = {}
    holder[name] = value


def _number(text, low, high, what):
    try:
        value = float(text)
    except ValueError:
        raise config.ConfigError("%s must be a number, got %r" % (what, text))
    if not low <= value <= high:
        raise config.ConfigError("%s must be in [%s, %s], got %s" % (what, low, high, text))
    return value


def _join_failed(wlan):
    try:
        return wlan.status() in _JOIN_FAILED
    except (AttributeError, TypeError):  # a radio stand-in without status()
        return False


def parse_mqtt_url(url):
    """``mqtt://host[:port]`` or ``mqtts://host[:port]`` -> (host, port, tls)."""
    if url.startswith("mqtts://"):
        tls, rest, port = True, url[8:], 8883
    elif url.startswith("mqtt://"):
        tls, rest, port = False, url[7:], 1883
    else:
        raise config.ConfigError("MQTT URL must start with mqtt:// or mqtts://, got %r" % url)
    rest = rest.split("/")[0]
    host, sep, port_text = rest.rpartition(":")
    if not sep:
        host = rest
    else:
        try:
            port = int(port_text)
        except ValueError:
            raise config.ConfigError("MQTT URL port %r is not a number" % port_text)
    if not host or not 1 <= port <= 65535:
        raise config.ConfigError("MQTT URL %r has no host or a bad port" % url)
    return host, port, tls


class Responder:
    """Improv serial state machine. ``write(bytes)`` sends to the console; ``wlan`` is a network.WLAN."""

    def __init__(self, write, wlan, path=config.FILE, info=("reverbere", "0.1.0", "esp32", "node"),
                 connect_timeout_ms=15000):
        self._write = write
        self._wlan = wlan
        self._path = path
        self._info = info
        self._connect_timeout_ms = connect_timeout_ms
        self._reader = improv.FrameReader()
        self.cfg = _read_raw(path)
        self.saved = False
        self.state = improv.STATE_PROVISIONED if wlan.isconnected() else improv.STATE_READY
        self.rejected = 0  # RPCs refused (bad packet, unknown command, bad setting)
        self.confirmed = False  # the settings were read back once complete: the tool is done

    @property
    def bad_checksum(self):
        return self._reader.bad_checksum

    def _send(self, kind, data):
        self._write(improv.frame(kind, data))

    def _send_state(self, state):
        self.state = state
        self._send(improv.TYPE_CURRENT_STATE, bytes((state,)))

    def _send_error(self, code):
        self.rejected += 1
        self._send(improv.TYPE_ERROR_STATE, bytes((code,)))

    def _send_result(self, command, strings):
        self._send(improv.TYPE_RPC_RESULT, improv.rpc(command, improv.pack_strings(strings)))

    def announce(self):
        """Send the current state unasked: a tool that opened the port while the board booted learns
        the responder now listens."""
        self._send(improv.TYPE_CURRENT_STATE, bytes((self.state,)))

    def receive(self, data):
        """Handle the bytes read from the console."""
        for byte in data:
            try:
                found = self._reader.push(byte)
            except improv.ChecksumError:
                self._send_error(improv.ERROR_INVALID_RPC)
                continue
            if found is not None and found[0] == improv.TYPE_RPC:
                self._dispatch(found[1])

    def _dispatch(self, data):
        try:
            command, payload = improv.parse_rpc(data)
            strings = improv.unpack_strings(payload) if command != improv.CMD_GET_STATE else []
        except improv.ImprovError:
            self._send_error(improv.ERROR_INVALID_RPC)
            return
        if command == improv.CMD_WIFI_SETTINGS and len(strings) == 2:
            self._wifi(strings[0], strings[1])
        elif command == improv.CMD_GET_STATE:
            self._send_state(self.state)
            if self.state == improv.STATE_PROVISIONED:
                self._send_result(command, [])
        elif command == improv.CMD_DEVICE_INFO:
            self._send_result(command, self._info)
        elif command == improv.CMD_SCAN_NETWORKS:
            self._scan()
        elif command == improv.CMD_RVB_IDENTITY and len(strings) == 5:
            self._settings(command, self._identity_changes, strings)
        elif command == improv.CMD_RVB_MQTT and len(strings) == 3:
            self._settings(command, self._mqtt_changes, strings)
        elif command == improv.CMD_RVB_SETTINGS:
            self._send_result(command, self._summary())
            self.confirmed = self.saved and self.state == improv.STATE_PROVISIONED
        elif command in (improv.CMD_WIFI_SETTINGS, improv.CMD_RVB_IDENTITY, improv.CMD_RVB_MQTT):
            self._send_error(improv.ERROR_INVALID_RPC)
        else:
            self._send_error(improv.ERROR_UNKNOWN_RPC)

    def _wifi(self, ssid, password):
        self._send_state(improv.STATE_PROVISIONING)
        wlan = self._wlan
        wlan.active(True)
        wlan.connect(ssid, password)
        start = _ticks_ms()
        while not wlan.isconnected():
            if _join_failed(wlan) or _ticks_diff(_ticks_ms(), start) > self._connect_timeout_ms:
                wlan.disconnect()
                self._send_error(improv.ERROR_UNABLE_TO_CONNECT)
                self._send_state(improv.STATE_READY)
                return
            _sleep_ms(50)
        _set(self.cfg, "wifi.ssid", ssid)
        _set(self.cfg, "wifi.password", password)
        self._store()
        self._send_state(improv.STATE_PROVISIONED)
        self._send_result(improv.CMD_WIFI_SETTINGS, [])

    def _identity_changes(self, strings):
        device_id, site, asset, lat, lon = strings
        for key, value in (("node.id", device_id), ("node.site", site)):
            if not config.SCHEMA[key][0](value):
                raise config.ConfigError("%s must be %s, got %r" % (key, config.SCHEMA[key][0].text, value))
        if len(asset) > 64:
            raise config.ConfigError("node.asset must be at most 64 characters")
        return ((("node.id", device_id), ("node.site", site), ("node.asset", asset),
                 ("node.lat", _number(lat, -90, 90, "latitude")),
                 ("node.lon", _number(lon, -180, 180, "longitude"))))

    def _mqtt_changes(self, strings):
        url, user, password = strings
        host, port, tls = parse_mqtt_url(url)
        changes = (("mqtt.host", host), ("mqtt.port", port), ("mqtt.tls", tls),
                   ("mqtt.user", user or None), ("mqtt.password", password or None))
        for key, value in changes:
            check = config.SCHEMA[key][0]
            if not check(value):
                raise config.ConfigError("%s must be %s" % (key, check.text))
        return changes

    def _settings(self, command, build, strings):
        try:
            for key, value in build(strings):
                _set(self.cfg, key, value)
        except config.ConfigError as exc:
            self._send_error(improv.ERROR_SETTINGS_REJECTED)
            self._send_result(command, [str(exc)])
            return
        self._store()
        self._send_result(command, ["saved" if self.saved else "pending"])

    def _store(self):
        try:
            config.save(self.cfg, self._path)
            self.saved = True
        except config.ConfigError:
            self.saved = False  # incomplete until deploy and the remaining steps fill it in

    def _summary(self):
        node = self.cfg.get("node") or {}
        mqtt = self.cfg.get("mqtt") or {}
        url = ""
        if mqtt.get("host"):
            url = "%s://%s:%d" % ("mqtts" if mqtt.get("tls") else "mqtt", mqtt["host"],
                                  mqtt.get("port") or 1883)
        lat = node.get("lat")
        lon = node.get("lon")
        return [node.get("id") or "", node.get("site") or "", node.get("asset") or "",
                "" if lat is None else repr(lat), "" if lon is None else repr(lon),
                url, mqtt.get("user") or "", "saved" if self.saved else "pending"]

    def _scan(self):
        for entry in self._wlan.scan():
            ssid = entry[0].decode("utf-8") if isinstance(entry[0], bytes) else entry[0]
            self._send_result(improv.CMD_SCAN_NETWORKS,
                              [ssid, str(entry[3]), "YES" if entry[4] else "NO"])
        self._send_result(improv.CMD_SCAN_NETWORKS, [])


def serve(responder, stream=None, poll_ms=100, until=None):
    """Feed ``responder`` from ``stream`` (the console; sys.stdin's buffer by default) until ``until()``
    is true or the stream ends."""
    if stream is None:
        stream = sys.stdin.buffer
    poller = select.poll()
    poller.register(stream, select.POLLIN)
    while until is None or not until():
        if not poller.poll(poll_ms):
            continue
        chunk = stream.read(1)
        if not chunk:
            return
        responder.receive(chunk)
