"""Synchronisation header (SHR) and PHY header (PHR) of an IEEE 802.15.7 PHY I frame, and sizes.

SHR: fast-locking pattern (FLP), ``flp_chips`` alternating chips starting with ON, then the
topology-dependent pattern (TDP): a 15-bit pattern P sent as P, ~P, P, ~P (60 chips). The four P of the
standard are kept (``TOPOLOGY_*``); street lamps broadcast. In a dimmed OOK frame the TDP is sent
Manchester-coded (120 chips) so that the whole frame is made of chip pairs and compensation pairs can be
inserted and removed (dimming.py); a receiver tells the two forms apart by which one it finds.

PHR (6 bytes, sent with ``modes.header_mode``): burst mode (1 bit, 0), channel (3 bits, 0), MCS id (6),
PSDU length in bytes (16), dimmed-OOK flag (1), reserved (5, 0), then the header check sequence, a
CRC-16 of those 4 bytes. PSDU = payload + CRC-16 of the payload. Both CRCs: CRC-16/ITU-T polynomial
x^16 + x^12 + x^5 + 1, register preset to all ones, result complemented, most significant bit first
(catalogue name CRC-16/GENIBUS; check value 0xD64E). Bits go out most significant first.
"""

from protocols.lifi import fec, linecode
from protocols.lifi.errors import HeaderError, LifiError
from protocols.lifi.modes import OOK, header_mode, mode_by_id, mode_by_name

FLP_CHIPS = 64
TOPOLOGY_INDEPENDENT = 0b111101011001000
TOPOLOGY_PEER_TO_PEER = 0b001011101111110
TOPOLOGY_STAR = 0b100110000010011
TOPOLOGY_BROADCAST = 0b010000110100101
TOPOLOGIES = (TOPOLOGY_INDEPENDENT, TOPOLOGY_PEER_TO_PEER, TOPOLOGY_STAR, TOPOLOGY_BROADCAST)
TDP_BITS = 60
PHR_BYTES = 6
CRC_BYTES = 2
MAX_PSDU = 1023  # aMaxPHYFrameSize of IEEE 802.15.7
MAX_PAYLOAD = MAX_PSDU - CRC_BYTES
# Chip mismatches tolerated in the 60-chip TDP (twice that in its 120-chip Manchester form). With 4,
# a random 60-chip window matches with probability sum C(60,i)/2^60, i <= 4, about 5e-13; the header
# check and the CRC come on top.
MAX_SYNC_ERRORS = 4


def _crc_table():
    table = [0] * 256
    for b in range(256):
        r = b << 8
        for _ in range(8):
            r = ((r << 1) ^ 0x1021) if r & 0x8000 else (r << 1)
        table[b] = r & 0xFFFF
    return table


_CRC_TABLE = _crc_table()


def crc16(data):
    """CRC-16/GENIBUS of bytes (see module docstring)."""
    r = 0xFFFF
    t = _CRC_TABLE
    for b in data:
        r = ((r << 8) & 0xFFFF) ^ t[(r >> 8) ^ b]
    return r ^ 0xFFFF


def tdp_bits(topology=TOPOLOGY_BROADCAST):
    out = bytearray(TDP_BITS)
    for rep in range(4):
        inv = rep & 1
        for i in range(15):
            out[15 * rep + i] = ((topology >> (14 - i)) & 1) ^ inv
    return out


def header_bytes(mode, psdu_len, dimmed):
    if not 0 <= psdu_len <= MAX_PSDU:
        raise LifiError("PSDU of %d bytes exceeds %d" % (psdu_len, MAX_PSDU))
    h = bytearray(PHR_BYTES)
    mcs = mode.mcs_id
    h[0] = mcs >> 2  # burst 0, channel 0
    h[1] = ((mcs & 3) << 6) | (psdu_len >> 10)
    h[2] = (psdu_len >> 2) & 0xFF
    h[3] = ((psdu_len & 3) << 6) | (0x20 if dimmed else 0)
    c = crc16(h[:4])
    h[4] = c >> 8
    h[5] = c & 0xFF
    return h


def parse_header(h):
    """(mode, psdu_len, dimmed) from 6 PHR bytes; HeaderError if the check or a field is wrong."""
    c = crc16(h[:4])
    if (h[4] << 8 | h[5]) != c:
        raise HeaderError("PHR check sequence mismatch")
    if h[0] >> 4:
        raise HeaderError("burst mode / channel fields not supported: %#x" % h[0])
    if h[3] & 0x1F:
        raise HeaderError("reserved PHR bits set")
    mcs = ((h[0] & 0x0F) << 2) | (h[1] >> 6)
    try:
        mode = mode_by_id(mcs)
    except ValueError:
        raise HeaderError("PHR names unknown MCS id %d" % mcs) from None
    psdu_len = ((h[1] & 0x3F) << 10) | (h[2] << 2) | (h[3] >> 6)
    if psdu_len < CRC_BYTES or psdu_len > MAX_PSDU:
        raise HeaderError("PHR PSDU length %d impossible" % psdu_len)
    return mode, psdu_len, bool(h[3] & 0x20)


def field_chips(n_bytes, mode):
    if mode.modulation == OOK:
        return 2 * fec.coded_bit_count(n_bytes, mode.rs, mode.cc)
    return 6 * fec.coded_nibble_count(n_bytes, mode.rs)


def tdp_chips(dimmed, topology):
    bits = tdp_bits(topology)
    return linecode.manchester_encode(bits) if dimmed else bits


def frame_chip_count(payload_len, mode, dim=None, flp_chips=FLP_CHIPS):
    """Chips of an undimmed frame (or of a dimmed one before OOK compensation pairs)."""
    mode = mode_by_name(mode)
    dimmed = dim is not None and mode.modulation == OOK
    return (flp_chips + TDP_BITS * (2 if dimmed else 1) + field_chips(PHR_BYTES, header_mode(mode))
            + field_chips(payload_len + CRC_BYTES, mode))


