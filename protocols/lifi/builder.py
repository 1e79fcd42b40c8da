"""Frame construction for the transmitter: payload -> chips with preallocated buffers.

A ``FrameBuilder`` owns every buffer a frame of up to ``max_payload`` bytes needs, so building a
beacon on the luminaire allocates next to nothing and the hot loops (RS parity, CC + Manchester fused,
4B6B) run as native code on MicroPython. ``build_frame`` is the one-shot form. The result is
bit-identical to the step-by-step path of fec.py and linecode.py (the tests hold them together).
"""

from protocols.lifi import cc as cc_code
from protocols.lifi import dimming, fec, rs
from protocols.lifi.compat import micropython
from protocols.lifi.errors import LifiError
from protocols.lifi.header import (
    CRC_BYTES,
    FLP_CHIPS,
    MAX_PAYLOAD,
    PHR_BYTES,
    TOPOLOGY_BROADCAST,
    crc16,
    field_chips,
    frame_chip_count,
    header_bytes,
    tdp_chips,
)
from protocols.lifi.linecode import TABLE_4B6B
from protocols.lifi.modes import OOK, header_mode, mode_by_name

_CC_OUT = cc_code.OUTPUTS


@micropython.native
def _nibbles_into(data, n_bytes, out):
    for i in range(n_bytes):
        b = data[i]
        out[2 * i] = b >> 4
        out[2 * i + 1] = b & 15


@micropython.native
def _gather(src, order, n, out):
    for i in range(n):
        out[i] = src[order[i]]


@micropython.native
def _cc_manchester(src, n_sym, per_step, chips, pos):
    """CC-encode the bits of nibbles src[:n_sym] plus the tail and write them Manchester-coded.
    per_step: 4 = rate 1/4, 3 = rate 1/3, 2 = rate 2/3 (see cc.py for the puncturing)."""
    outputs = _CC_OUT
    state = 0
    n_bits = 4 * n_sym
    for t in range(n_bits + 6):
        u = (src[t >> 2] >> (3 - (t & 3))) & 1 if t < n_bits else 0
        reg = (u << 6) | state
        v = outputs[reg]
        state = reg >> 1
        g0 = v >> 2
        g1 = (v >> 1) & 1
        if per_step == 4:
            chips[pos] = g0
            chips[pos + 1] = 1 - g0
            chips[pos + 2] = g0
            chips[pos + 3] = 1 - g0
            chips[pos + 4] = g1
            chips[pos + 5] = 1 - g1
            chips[pos + 6] = g1
            chips[pos + 7] = 1 - g1
            pos += 8
        elif per_step == 3:
            g2 = v & 1
            chips[pos] = g0
            chips[pos + 1] = 1 - g0
            chips[pos + 2] = g1
            chips[pos + 3] = 1 - g1
            chips[pos + 4] = g2
            chips[pos + 5] = 1 - g2
            pos += 6
        elif t & 1:
            chips[pos] = g1
            chips[pos + 1] = 1 - g1
            pos += 2
        else:
            chips[pos] = g0
            chips[pos + 1] = 1 - g0
            chips[pos + 2] = g1
            chips[pos + 3] = 1 - g1
            pos += 4
    return pos


@micropython.native
def _nibbles_manchester(src, n_sym, chips, pos):
    for i in range(n_sym):
        nib = src[i]
        for s in (3, 2, 1, 0):
            b = (nib >> s) & 1
            chips[pos] = b
            chips[pos + 1] = 1 - b
            pos += 2
    return pos


@micropython.native
def _nibbles_4b6b(src, n_sym, chips, pos):
    table = TABLE_4B6B
    for i in range(n_sym):
        w = table[src[i]]
        chips[pos] = (w >> 5) & 1
        chips[pos + 1] = (w >> 4) & 1
        chips[pos + 2] = (w >> 3) & 1
        chips[pos + 3] = (w >> 2) & 1
        chips[pos + 4] = (w >> 1) & 1
        chips[pos + 5] = w & 1
        pos += 6
    return pos


class FrameBuilder:
    """Builds frames of one mode into buffers sized once for ``max_payload`` bytes.

    ``build(payload)`` returns a memoryview of the chips, valid until the next call. With OOK and a
    dimming level, compensation pairs are inserted (state carried in ``comp`` across frames) into a
    second buffer sized on first use from dimming.max_pairs."""

    def __init__(self, mode, max_payload=64, dim=None, topology=TOPOLOGY_BROADCAST,
                 flp_chips=FLP_CHIPS, comp=None):
        self.mode = mode_by_name(mode)
        self.header = header_mode(self.mode)
        if not 0 <= max_payload <= MAX_PAYLOAD:
            raise LifiError("max_payload must be 0..%d" % MAX_PAYLOAD)
        if flp_chips < 0 or flp_chips & 1:
            raise LifiError("the FLP needs an even number of chips")
        self.max_payload = max_payload
        self.dimmed = dim is not None and self.mode.modulation == OOK
        self.comp = None
        if self.dimmed:
            self.comp = comp if comp is not None else dimming.Compensator(dim)
        self.chips = bytearray(frame_chip_count(max_payload, self.mode, dim, flp_chips))
        for i in range(0, flp_chips, 2):
            self.chips[i] = 1
        tdp = tdp_chips(self.dimmed, topology)
        self.chips[flp_chips:flp_chips + len(tdp)] = tdp
        self.prefix = flp_chips + len(tdp)
        n_psdu = max_payload + CRC_BYTES
        self.psdu = bytearray(n_psdu)
        self.phr = bytearray(PHR_BYTES)
        self.nibbles = bytearray(2 * max(n_psdu, PHR_BYTES))
        most = 2 * max(n_psdu, PHR_BYTES)
        for m in (self.mode, self.header):
            if m.rs is not None:
                most = max(most, rs.encoded_length(2 * max(n_psdu, PHR_BYTES), m.rs[1]))
        self.coded = bytearray(most)
        self.mixed = bytearray(most) if self.mode.cc is not None or self.header.cc is not None else None
        self._orders = {}
        self.out = None

    def _order(self, s):
        order = self._orders.get(s)
        if order is None:
            order = fec.interleave_order(s)
            self._orders[s] = order
        return order

    def _field(self, data, n_bytes, mode, pos):
        _nibbles_into(data, n_bytes, self.nibbles)
        src = self.nibbles
        n_sym = 2 * n_bytes
        if mode.rs is not None:
            rs.encode(self.nibbles, mode.rs[1], self.coded, n_sym)
            src = self.coded
            n_sym = rs.encoded_length(n_sym, mode.rs[1])
            if mode.cc is not None:
                _gather(self.coded, self._order(n_sym), n_sym, self.mixed)
                src = self.mixed
        if mode.modulation != OOK:
            return _nibbles_4b6b(src, n_sym, self.chips, pos)
        if mode.cc is None:
            return _nibbles_manchester(src, n_sym, self.chips, pos)
        per_step = 4 if mode.cc == (1, 4) else (3 if mode.cc == (1, 3) else 2)
        return _cc_manchester(src, n_sym, per_step, self.chips, pos)

    def build(self, payload):
        n = len(payload)
        if n > self.max_payload:
            raise LifiError("payload of %d bytes exceeds this builder's %d" % (n, self.max_payload))
        psdu = self.psdu
        for i in range(n):
            psdu[i] = payload[i]
        c = crc16(payload)
        psdu[n] = c >> 8
        psdu[n + 1] = c & 0xFF
        self.phr[:] = header_bytes(self.mode, n + CRC_BYTES, self.dimmed)
        pos = self._field(self.phr, PHR_BYTES, self.header, self.prefix)
        end = self._field(psdu, n + CRC_BYTES, self.mode, pos)
        if end != self.prefix + field_chips(PHR_BYTES, self.header) + field_chips(n + CRC_BYTES, self.mode):
            raise LifiError("internal frame length mismatch")
        if not self.dimmed:
            return memoryview(self.chips)[:end]
        room = 2 * dimming.max_pairs(end // 2, self.comp)
        if self.out is None or len(self.out) < room:
            # headroom so the running light error of later frames does not force a new buffer
            self.out = bytearray(room + room // 16)
        n = dimming.compensate_into(self.chips, end, self.comp, self.out)
        return memoryview(self.out)[:n]


def build_frame(payload, mode, dim=None, topology=TOPOLOGY_BROADCAST, flp_chips=FLP_CHIPS, comp=None):
    """Chips (bytearray of 0/1) of one frame carrying ``payload`` in ``mode`` (a Mode or its name).

    ``dim``: dimming level 0.05..0.95 or None. For OOK it selects the dimmed frame form and inserts
    compensation pairs, continuing ``comp`` (a dimming.Compensator) when given so that the light level
    stays even across consecutive frames and idle; for VPPM the chips do not depend on it (the pulse
    width does, see dimming.light_samples and tx.rmt_items)."""
    if len(payload) > MAX_PAYLOAD:
        raise LifiError("payload of %d bytes exceeds %d" % (len(payload), MAX_PAYLOAD))
    b = FrameBuilder(mode, len(payload), dim, topology, flp_chips, comp)
    chips = b.build(payload)
    return bytearray(chips) if b.dimmed else b.chips
