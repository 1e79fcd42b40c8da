"""Authenticated LiFi location beacon of one luminaire (common CPython/MicroPython subset).

A beacon ties a receiver to the light cone of one lamp. It is 19 bytes, all big-endian:

    offset size field
    0      1    version (BEACON_VERSION)
    1      6    lamp id (the luminaire's chip MAC, as its node_id by default)
    7      4    counter (uint32, strictly increasing per lamp; the lamp keeps its boot counter in the high
                bits so a reboot never reuses a value)
    11     8    tag: HMAC-SHA256(lamp key, bytes 0..10) truncated to its first 8 bytes

HMAC (RFC 2104) is written on `hashlib.sha256` because MicroPython has no `hmac` module; the test suite
checks it against CPython's `hmac`. A 64-bit tag leaves a forger a 2^-64 chance per try, far below what a
lamp repeating beacons a few times a second can be probed with.

Per-lamp keys derive from one site master key (`derive_lamp_key`), so the gateway stores one secret and a
lamp's key leaking does not expose the others.

The verifier rejects truncated, forged and replayed beacons with typed errors and counts each reason.
Replay protection is the sliding window of IPsec (RFC 4303 §3.4.3): counters above the highest seen are
accepted and move the window; counters inside the window are accepted once; older ones are refused.
"""

import hashlib
import struct

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

BEACON_VERSION = const(1)
LAMP_ID_SIZE = const(6)
TAG_SIZE = const(8)
SIGNED_SIZE = const(11)
BEACON_SIZE = const(19)
REPLAY_WINDOW = const(64)
MAX_TRACKED_LAMPS = const(4096)
_COUNTER_MAX = 0xFFFFFFFF
_BLOCK = const(64)


class BeaconError(ValueError):
    """A beacon was refused; `reason` names the counter it was added to."""

    reason = "invalid"


class BeaconTruncated(BeaconError):
    reason = "truncated"


class BeaconMalformed(BeaconError):
    reason = "malformed"


class BeaconUnknownLamp(BeaconError):
    reason = "unknown-lamp"


class BeaconForged(BeaconError):
    reason = "forged"


class BeaconReplayed(BeaconError):
    reason = "replayed"


class CounterExhausted(Exception):
    """The lamp's counter reached 2^32 - 1: the lamp needs a new key (or a new boot epoch)."""


def _pad_key(key, fill):
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    padded = bytearray(_BLOCK)
    for i in range(len(key)):
        padded[i] = key[i]
    for i in range(_BLOCK):
        padded[i] ^= fill
    return bytes(padded)


class HmacSha256:
    """HMAC-SHA256 with the padded keys computed once (a beacon is signed several times a second)."""

    def __init__(self, key):
        self._inner_key = _pad_key(key, 0x36)
        self._outer_key = _pad_key(key, 0x5C)

    def digest(self, message):
        inner = hashlib.sha256(self._inner_key)
        inner.update(message)
        outer = hashlib.sha256(self._outer_key)
        outer.update(inner.digest())
        return outer.digest()


def hmac_sha256(key, message):
    return HmacSha256(key).digest(message)


def derive_lamp_key(master_key, lamp_id):
    """The per-lamp key: HMAC-SHA256(site master key, b"reverbere-lifi-beacon" + lamp id)."""
    return hmac_sha256(master_key, b"reverbere-lifi-beacon" + _lamp_id_bytes(lamp_id))


def _lamp_id_bytes(lamp_id):
    """Accept the 6 raw bytes or the 12-hex-digit node id."""
    if isinstance(lamp_id, str):
        if len(lamp_id) != 2 * LAMP_ID_SIZE:
            raise BeaconMalformed("lamp id must be 12 hex digits, got %r" % lamp_id)
        try:
            return bytes(int(lamp_id[i:i + 2], 16) for i in range(0, len(lamp_id), 2))
        except ValueError:
            raise BeaconMalformed("lamp id must be 12 hex digits, got %r" % lamp_id)
    lamp_id = bytes(lamp_id)
    if len(lamp_id) != LAMP_ID_SIZE:
        raise BeaconMalformed("lamp id must be %d bytes, got %d" % (LAMP_ID_SIZE, len(lamp_id)))
    return lamp_id


def lamp_id_hex(lamp_id):
    return "".join("%02x" % b for b in _lamp_id_bytes(lamp_id))


def _constant_time_equal(a, b):
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


class BeaconSigner:
    """The luminaire side: `next_beacon()` returns the next signed 19-byte beacon payload.

    `counter` is the last value used (the lamp persists it, or starts from boot_counter << 20)."""

    def __init__(self, lamp_id, key, counter=0):
        self.lamp_id = _lamp_id_bytes(lamp_id)
        self.counter = counter
        self._mac = HmacSha256(key)
        self._buf = bytearray(BEACON_SIZE)
        self._buf[0] = BEACON_VERSION
        self._buf[1:1 + LAMP_ID_SIZE] = self.lamp_id

    def next_beacon(self):
        if self.counter >= _COUNTER_MAX:
            raise CounterExhausted("beacon counter exhausted for lamp %s" % lamp_id_hex(self.lamp_id))
        self.counter += 1
        buf = self._buf
        struct.pack_into(">I", buf, 1 + LAMP_ID_SIZE, self.counter)
        tag = self._mac.digest(memoryview(buf)[:SIGNED_SIZE])
        buf[SIGNED_SIZE:] = tag[:TAG_SIZE]
        return bytes(buf)


class Beacon:
    """A verified beacon: the lamp it came from and its counter."""

    def __init__(self, lamp_id, counter):
        self.lamp_id = lamp_id
        self.counter = counter

    def __repr__(self):
        return "Beacon(lamp_id=%r, counter=%d)" % (lamp_id_hex(self.lamp_id), self.counter)


def parse_beacon(data):
    """Split a beacon into (lamp id bytes, counter, signed part, tag) without checking the tag."""
    if len(data) < BEACON_SIZE:
        raise BeaconTruncated("beacon is %d bytes, expected %d" % (len(data), BEACON_SIZE))
    if len(data) > BEACON_SIZE:
        raise BeaconMalformed("beacon is %d bytes, expected %d" % (len(data), BEACON_SIZE))
    if data[0] != BEACON_VERSION:
        raise BeaconMalformed("unknown beacon version %d" % data[0])
    lamp_id = bytes(data[1:1 + LAMP_ID_SIZE])
    counter = struct.unpack_from(">I", data, 1 + LAMP_ID_SIZE)[0]
    return lamp_id, counter, bytes(data[:SIGNED_SIZE]), bytes(data[SIGNED_SIZE:])


class ReplayWindow:
    """Anti-replay sliding window over one lamp's counters (RFC 4303 §3.4.3)."""

    def __init__(self, size=REPLAY_WINDOW):
        self.size = size
        self.highest = -1
        self._seen = 0  # bit i set: counter (highest - i) already accepted

    def check(self, counter):
        """Raise BeaconReplayed if `counter` was seen or is older than the window; do not record it."""
        if counter > self.highest:
            return
        offset = self.highest - counter
        if offset >= self.size:
            raise BeaconReplayed("counter %d is older than the replay window (highest %d)"
                                 % (counter, self.highest))
        if (self._seen >> offset) & 1:
            raise BeaconReplayed("counter %d already received" % counter)

    def record(self, counter):
        if counter > self.highest:
            shift = counter - self.highest
            self._seen = ((self._seen << shift) | 1) & ((1 << self.size) - 1) if shift < self.size else 1
            self.highest = counter
        else:
            self._seen |= 1 << (self.highest - counter)


class BeaconVerifier:
    """The gateway (or a receiver holding keys) side.

    `key_for(lamp_id_bytes)` returns the lamp's key or None. A window exists only for a lamp whose beacon
    carried a valid tag, so made-up lamp ids cannot fill memory; still, at most `max_lamps` windows are
    kept and beyond that the least recently verified lamp's window is dropped and counted in `evicted`
    (that lamp's old beacons would be accepted once more, so size `max_lamps` above the site's lamp count).
    """

    def __init__(self, key_for, window=REPLAY_WINDOW, max_lamps=MAX_TRACKED_LAMPS):
        self._key_for = key_for
        self._window = window
        self._max_lamps = max_lamps
        self._windows = {}
        self._macs = {}
        self._order = []  # lamp ids, least recently verified first
        self.counts = {"accepted": 0, "truncated": 0, "malformed": 0, "unknown-lamp": 0,
                       "forged": 0, "replayed": 0, "evicted": 0}

    def verify(self, data):
        """Return a Beacon or raise a BeaconError (its reason is counted)."""
        try:
            beacon = self._verify(data)
        except BeaconError as exc:
            self.counts[exc.reason] += 1
            raise
        self.counts["accepted"] += 1
        return beacon

    def _verify(self, data):
        lamp_id, counter, signed, tag = parse_beacon(data)
        mac = self._macs.get(lamp_id)
        if mac is None:
            key = self._key_for(lamp_id)
            if key is None:
                raise BeaconUnknownLamp("no key for lamp %s" % lamp_id_hex(lamp_id))
            mac = HmacSha256(key)
        if not _constant_time_equal(mac.digest(signed)[:TAG_SIZE], tag):
            raise BeaconForged("bad tag on beacon from lamp %s" % lamp_id_hex(lamp_id))
        window = self._windows.get(lamp_id)
        if window is None:
            window = ReplayWindow(self._window)
        window.check(counter)
        window.record(counter)
        self._remember(lamp_id, window, mac)
        return Beacon(lamp_id, counter)

    def _remember(self, lamp_id, window, mac):
        if lamp_id in self._windows:
            self._order.remove(lamp_id)
        elif len(self._order) >= self._max_lamps:
            oldest = self._order.pop(0)
            del self._windows[oldest]
            del self._macs[oldest]
            self.counts["evicted"] += 1
        self._windows[lamp_id] = window
        self._macs[lamp_id] = mac
        self._order.append(lamp_id)
