"""Improv Wi-Fi: the serial frame codec and RPC payloads, shared by the CLI and the on-chip responder.

Serial frame (https://www.improv-wifi.com/serial/)::

    "IMPROV" | version (1) | type (1) | length (1) | data (length) | checksum (1)

the checksum being the low byte of the sum of every byte before it. An RPC command's data is
``command | length | payload``; a payload is a run of length-prefixed UTF-8 strings (Wi-Fi settings are
``ssid_len ssid pass_len pass``). Over BLE the same ``command | length | payload`` travels on the RPC
characteristic with its own trailing checksum (``ble_rpc``).

Reverbère adds vendor RPC commands from 0x80 (the spec leaves ids above the standard ones free); all
carry length-prefixed strings:

    0x80 IDENTITY  device id, site, asset, latitude, longitude (decimal WGS84 text)
    0x81 MQTT      broker URL (mqtt://host[:port] or mqtts://...), user, password
    0x82 SETTINGS  (no payload) -> result: device id, site, asset, lat, lon, MQTT URL, user, "saved"|"pending"

and the vendor error 0x80 SETTINGS_REJECTED (the config refused a value; the reason follows as an RPC
result to the command that failed). Written for the common subset of CPython and MicroPython.
"""

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

HEADER = b"IMPROV"
VERSION = const(1)

TYPE_CURRENT_STATE = const(0x01)
TYPE_ERROR_STATE = const(0x02)
TYPE_RPC = const(0x03)
TYPE_RPC_RESULT = const(0x04)

STATE_AUTHORIZATION_REQUIRED = const(0x01)  # BLE only
STATE_READY = const(0x02)                   # "authorized" over BLE
STATE_PROVISIONING = const(0x03)
STATE_PROVISIONED = const(0x04)

ERROR_NONE = const(0x00)
ERROR_INVALID_RPC = const(0x01)
ERROR_UNKNOWN_RPC = const(0x02)
ERROR_UNABLE_TO_CONNECT = const(0x03)
ERROR_NOT_AUTHORIZED = const(0x04)          # BLE only
ERROR_SETTINGS_REJECTED = const(0x80)       # Reverbère vendor error
ERROR_UNKNOWN = const(0xFF)

CMD_WIFI_SETTINGS = const(0x01)
CMD_GET_STATE = const(0x02)                 # serial; over BLE 0x02 is "identify"
CMD_IDENTIFY = const(0x02)
CMD_DEVICE_INFO = const(0x03)
CMD_SCAN_NETWORKS = const(0x04)
CMD_RVB_IDENTITY = const(0x80)
CMD_RVB_MQTT = const(0x81)
CMD_RVB_SETTINGS = const(0x82)

STATE_NAMES = {1: "authorization-required", 2: "ready", 3: "provisioning", 4: "provisioned"}
ERROR_NAMES = {0: "none", 1: "invalid RPC packet", 2: "unknown RPC command", 3: "unable to connect",
               4: "not authorized", 0x80: "settings rejected", 0xFF: "unknown error"}

MAX_DATA = const(255)
MAX_FRAME = const(6 + 3 + 255 + 1)

# BLE GATT service and characteristics (https://www.improv-wifi.com/ble/).
BLE_SERVICE = "00467768-6228-2272-4663-277478268000"
BLE_CURRENT_STATE = "00467768-6228-2272-4663-277478268001"
BLE_ERROR_STATE = "00467768-6228-2272-4663-277478268002"
BLE_RPC_COMMAND = "00467768-6228-2272-4663-277478268003"
BLE_RPC_RESULT = "00467768-6228-2272-4663-277478268004"
BLE_CAPABILITIES = "00467768-6228-2272-4663-277478268005"


class ImprovError(ValueError):
    """Bytes that break the Improv framing or an RPC payload's layout."""


class ChecksumError(ImprovError):
    """A complete frame whose checksum byte does not match its contents."""


def checksum(data, start=0, end=None):
    """Low byte of the sum of ``data[start:end]``."""
    if end is None:
        end = len(data)
    total = 0
    for i in range(start, end):
        total += data[i]
    return total & 0xFF


def frame(kind, data=b""):
    """One serial frame of type ``kind`` carrying ``data``."""
    if len(data) > MAX_DATA:
        raise ImprovError("frame data is %d bytes; at most %d fit" % (len(data), MAX_DATA))
    out = bytearray(HEADER)
    out.append(VERSION)
    out.append(kind)
    out.append(len(data))
    out.extend(data)
    out.append(checksum(out))
    return bytes(out)


def rpc(command, payload=b""):
    """RPC data ``command | length | payload`` (the body of a TYPE_RPC or TYPE_RPC_RESULT frame)."""
    if len(payload) > MAX_DATA - 2:
        raise ImprovError("RPC 0x%02x payload is %d bytes; at most %d fit" % (command, len(payload), MAX_DATA - 2))
    return bytes((command, len(payload))) + bytes(payload)


def ble_rpc(command, payload=b""):
    """An RPC packet as written on the BLE RPC characteristic: rpc() plus its checksum."""
    body = rpc(command, payload)
    return body + bytes((checksum(body),))


def parse_rpc(data):
    """``command | length | payload`` -> (command, payload); ImprovError if the length disagrees."""
    if len(data) < 2:
        raise ImprovError("RPC data of %d bytes has no command and length" % len(data))
    if data[1] != len(data) - 2:
        raise ImprovError("RPC 0x%02x declares %d payload bytes, carries %d" % (data[0], data[1], len(data) - 2))
    return data[0], bytes(data[2:])


def parse_ble_rpc(packet):
    """A BLE RPC packet -> (command, payload); ChecksumError or ImprovError when malformed."""
    if len(packet) < 3:
        raise ImprovError("BLE RPC packet of %d bytes is too short" % len(packet))
    if checksum(packet, 0, len(packet) - 1) != packet[-1]:
        raise ChecksumError("BLE RPC checksum mismatch")
    return parse_rpc(packet[:-1])


def pack_strings(strings):
    """Length-prefixed UTF-8 strings, concatenated."""
    out = bytearray()
    for text in strings:
        raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        if len(raw) > MAX_DATA:
            raise ImprovError("string of %d bytes is too long for one length byte" % len(raw))
        out.append(len(raw))
        out.extend(raw)
    return bytes(out)


def unpack_strings(payload):
    """The inverse of pack_strings -> list of str; ImprovError on a truncated string or bad UTF-8."""
    strings = []
    i = 0
    while i < len(payload):
        size = payload[i]
        end = i + 1 + size
        if end > len(payload):
            raise ImprovError("string at byte %d declares %d bytes, %d remain" % (i, size, len(payload) - i - 1))
        try:
            strings.append(bytes(payload[i + 1:end]).decode("utf-8"))
        except UnicodeError:
            raise ImprovError("string at byte %d is not UTF-8" % i)
        i = end
    return strings


class FrameReader:
    """Finds frames in a serial byte stream that also carries console text.

    Bytes outside frames are console output and are counted as ``skipped``; a frame with a bad
    checksum raises ChecksumError (and is counted), one with an unknown version is dropped and counted.
    The buffer is preallocated: a frame never needs more than MAX_FRAME bytes."""

    def __init__(self):
        self._buf = bytearray(MAX_FRAME)
        self._n = 0
        self.skipped = 0
        self.bad_checksum = 0
        self.bad_version = 0

    def push(self, byte):
        """Take one byte -> (type, data) when it completes a good frame, else None."""
        buf = self._buf
        n = self._n
        if n < 6:
            if byte == HEADER[n]:
                buf[n] = byte
                self._n = n + 1
            else:
                self.skipped += n + 1
                self._n = 0
                if byte == HEADER[0]:
                    self.skipped -= 1
                    buf[0] = byte
                    self._n = 1
            return None
        buf[n] = byte
        n += 1
        self._n = n
        if n == 7 and byte != VERSION:
            self.bad_version += 1
            self._n = 0
            return None
        if n < 9:
            return None
        length = buf[8]
        if n < 10 + length:
            return None
        self._n = 0
        if checksum(buf, 0, n - 1) != buf[n - 1]:
            self.bad_checksum += 1
            raise ChecksumError("Improv frame type 0x%02x: checksum mismatch" % buf[7])
        return buf[7], bytes(buf[9:9 + length])

    def feed(self, data):
        """All complete frames in ``data`` -> list of (type, data); stops at the first bad checksum."""
        frames = []
        for byte in data:
            found = self.push(byte)
            if found is not None:
                frames.append(found)
        return frames
