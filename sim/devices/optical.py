"""The boards' ends of the simulator's optical medium (sim/lifi/medium.py), as UDP datagrams on the host.

A luminaire's RMT shim hands what it transmits to `OpticalTx.pulses`: one datagram per piece of at most
MAX_RUNS pulses, stamped with the wall-clock time the piece starts on the LED (the end of the previous
piece when the RMT is still busy: the chip chains its writes) and the LED's dimming duty. The PWM shim
reports dimming changes with `OpticalTx.level`. Sending never blocks: a datagram the host refuses is
dropped and counted (`dropped`); the transmitter keeps no queue, so there is nothing older to drop.

A receiver's photodiode reads `OpticalRx.volts()`: the medium streams sample blocks (ADC codes, stamped
with their wall-clock start) to the receiver's UDP socket, and a read at time t returns the sample for
t - delay: the delay gives the medium time to hear every transmission before it renders the light
(transmissions are announced when they start). The socket's kernel buffer holds the blocks not yet
read, outside the board's heap; a read skips the blocks already in the past, so a receiver that pauses
loses the oldest light first. Between blocks (medium gone or late) the photodiode sees the ambient
light of the board's own world model. The receiver says hello to the medium every HELLO_MS with its
ambient illuminance, which is how the medium learns where to send its blocks.

Wire format, little endian:
    pulses  "RVBP" seq:u32 start_ns:i64 tick_hz:u32 duty:u16 level:u8 idlen:u8 id durations:u16 x n
    level   "RVBL" seq:u32 start_ns:i64 tick_hz:u32 duty:u16 0:u8 idlen:u8 id      (no durations)
    hello   "RVBH" lux:f32 blocks:u32 gaps:u32 misses:u32 bursts:u32 idlen:u8 id   (the counters:
            what the receiver saw, for the medium's books)
    samples "RVBS" seq:u32 start_us:i64 rate_hz:u32 n:u16 codes:u16 x n   (codes on read_u16's scale)
Sample datagrams always hold MAX_SAMPLES codes: MicroPython's socket.readinto fills the whole buffer,
from as many datagrams as it takes.

MicroPython code (it runs inside the simulated board); also importable by CPython tools.
"""

import socket
import struct
import time

try:
    from time import ticks_diff, ticks_ms
except ImportError:  # CPython
    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

PULSES = b"RVBP"
LEVEL = b"RVBL"
HELLO = b"RVBH"
SAMPLES = b"RVBS"
TX_HEAD = "<4sIqIHBB"
TX_HEAD_SIZE = 24
HELLO_BODY = "<fIIIIB"
HELLO_SIZE = 25
RX_HEAD = "<4sIqIH"
RX_HEAD_SIZE = 22
MAX_RUNS = 130            # pulses per datagram (the seam writes pieces of ~128)
MAX_SAMPLES = 128         # samples per block (8 ms at 16 kS/s): a small receive buffer on the board
HELLO_MS = 1000
_ANCHOR_GAP_MS = 100      # reads further apart than this belong to different bursts
_SO_RCVBUF = 8            # Linux; the MicroPython socket module does not name it
_RCVBUF_BYTES = 1 << 21   # seconds of blocks, held by the kernel, not the heap
_FULL_SCALE_V = 3.3


def _address(medium):
    return socket.getaddrinfo(medium[0], int(medium[1]))[0][-1]


def _reader(sock):
    """-> read(buf): bytes of one datagram into buf, or None when none waits (MicroPython's readinto;
    CPython's recv_into, for tools and tests)."""
    recv_into = getattr(sock, "recv_into", None) or sock.readinto

    def read(buf):
        try:
            return recv_into(buf)
        except OSError:
            return None
    return read


def _udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    return sock


class OpticalTx:
    """The luminaire's light as the medium needs it: pulse trains with start times, and dimming."""

    def __init__(self, spec, led_duty):
        """`spec`: sim.json's "optical" table ({"medium": [host, port], "id": board id});
        `led_duty()` -> the LED's current duty_u16 (None: not reported yet)."""
        self._sock = _udp()
        self._addr = _address(spec["medium"])
        self._id = spec["id"].encode()
        self._led_duty = led_duty
        self._buf = bytearray(TX_HEAD_SIZE + len(self._id) + 2 * MAX_RUNS)
        self._busy_until_ns = 0
        self.seq = 0
        self.sent = 0
        self.dropped = 0

    def _duty(self):
        duty = self._led_duty()
        return 0 if duty is None else max(0, min(65535, int(duty)))

    def _head(self, kind, start_ns, tick_hz, level):
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        struct.pack_into(TX_HEAD, self._buf, 0, kind, self.seq, start_ns, tick_hz, self._duty(), level,
                         len(self._id))
        self._buf[TX_HEAD_SIZE:TX_HEAD_SIZE + len(self._id)] = self._id
        return TX_HEAD_SIZE + len(self._id)

    def _send(self, size):
        try:
            self._sock.sendto(memoryview(self._buf)[:size], self._addr)
            self.sent += 1
        except OSError:
            self.dropped += 1  # medium gone or the host's buffer full: this piece's light is lost

    def pulses(self, durations, start_level, tick_hz):
        """Announce one RMT write: `durations` in ticks of `tick_hz`, alternating from `start_level`."""
        now_ns = time.time_ns()
        start_ns = max(now_ns, self._busy_until_ns)
        level = 1 if start_level else 0
        total = len(durations)
        i = 0
        while i < total:
            end = min(total, i + MAX_RUNS)
            off = self._head(PULSES, start_ns, tick_hz, level)
            buf = self._buf
            ticks = 0
            for j in range(i, end):
                d = durations[j]
                buf[off] = d & 0xFF
                buf[off + 1] = (d >> 8) & 0xFF
                off += 2
                ticks += d
            self._send(off)
            start_ns += ticks * 1000000000 // tick_hz
            if (end - i) & 1:
                level ^= 1
            i = end
        self._busy_until_ns = start_ns

    def level(self):
        """Announce a dimming change (the LED's steady light between transmissions)."""
        self._send(self._head(LEVEL, time.time_ns(), 0, 0))


class OpticalRx:
    """The photodiode's voltage from the medium's sample blocks (see the module docstring)."""

    def __init__(self, spec, ambient_volts, ambient_lux):
        """`spec`: sim.json's "optical" table ({"medium": [host, port], "id": board id,
        "delay_ms": 300, "rate": samples per second}); `ambient_volts()`: the photodiode's voltage
        without the medium; `ambient_lux()`: the illuminance told to the medium (for its ambient light
        and shot noise)."""
        self._sock = _udp()
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUF, _RCVBUF_BYTES)
        except OSError:
            pass
        self._sock.bind(_address(("127.0.0.1", 0)))
        self._read = _reader(self._sock)
        self._addr = _address(spec["medium"])
        self._id = spec["id"].encode()
        self._delay_us = int(spec.get("delay_ms", 300)) * 1000
        self._rate = int(spec.get("rate", 16000))
        self._ambient_volts = ambient_volts
        self._ambient_lux = ambient_lux
        self._buf = bytearray(RX_HEAD_SIZE + 2 * MAX_SAMPLES)
        self._n = 0        # samples in the block held
        self._i = -1       # stream position in it; -1: not anchored
        self._step = 1     # stream samples per ADC sample
        self._seq = None
        self._read_ms = ticks_ms()
        self._hello_ms = None
        self._fallback_v = 0.0
        self._fallback_ms = None
        self.blocks = 0
        self.gaps = 0      # blocks the medium sent that never arrived (kernel buffer full)
        self.misses = 0    # reads no block covered (medium late or gone): ambient light only
        self.bursts = 0    # reads after a pause (the role's bursts)
        self._scale = _FULL_SCALE_V / 65535

    def _hello(self, now_ms):
        self._hello_ms = now_ms
        try:
            lux = float(self._ambient_lux())
        except (OSError, ValueError):
            lux = 0.0
        msg = HELLO + struct.pack(HELLO_BODY, lux, self.blocks, self.gaps, self.misses, self.bursts,
                                  len(self._id)) + self._id
        try:
            self._sock.sendto(msg, self._addr)
        except OSError:
            pass

    def _block(self):
        """Read the next block into the buffer; -> its start (us) and stream rate, or None."""
        buf = self._buf
        while True:
            got = self._read(buf)
            if not got or got < RX_HEAD_SIZE:
                self._n = 0
                return None
            kind, seq, start, rate, n = struct.unpack_from(RX_HEAD, buf, 0)
            if kind != SAMPLES or got < RX_HEAD_SIZE + 2 * n or rate <= 0:
                continue
            if self._seq is not None and seq != (self._seq + 1) & 0xFFFFFFFF:
                self.gaps += (seq - self._seq - 1) & 0xFFFFFFFF
            self._seq = seq
            self.blocks += 1
            self._n = n
            return start, rate

    def _anchor(self, now_ms):
        """Start sampling at the light of `now - delay`: skip the blocks already past."""
        if self._hello_ms is None or ticks_diff(now_ms, self._hello_ms) >= HELLO_MS:
            self._hello(now_ms)
        t = time.time_ns() // 1000 - self._delay_us
        self._i = -1
        while True:
            got = self._block()
            if got is None:
                return
            start, rate = got
            i = (t - start) * rate // 1000000
            if i < self._n:
                self._i = max(0, i)
                self._step = max(1, rate // self._rate)
                return

    def volts(self):
        # Reads in a burst take consecutive samples at the receiver's rate, as the ADC's DMA delivers
        # them on the chip, however the host schedules this process; a pause between reads (the
        # role's pause between bursts) starts again at the light of now.
        now_ms = ticks_ms()
        gap = ticks_diff(now_ms, self._read_ms) > _ANCHOR_GAP_MS
        if gap or self._i < 0:
            if gap:
                self.bursts += 1
            self._anchor(now_ms)
        else:
            self._i += self._step
            if self._i >= self._n:
                if self._hello_ms is None or ticks_diff(now_ms, self._hello_ms) >= HELLO_MS:
                    self._hello(now_ms)
                self._i = 0 if self._block() is not None else -1
        self._read_ms = now_ms
        i = self._i
        if i < 0:
            self.misses += 1
            return self._ambient()
        off = RX_HEAD_SIZE + 2 * i
        return (self._buf[off] | (self._buf[off + 1] << 8)) * self._scale + self._scale / 2

    def _ambient(self):
        # The world model is too slow to ask thousands of times a second: its value is kept 100 ms.
        now = ticks_ms()
        if self._fallback_ms is None or ticks_diff(now, self._fallback_ms) >= 100:
            self._fallback_ms = now
            self._fallback_v = self._ambient_volts()
        return self._fallback_v
