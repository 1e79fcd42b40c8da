"""Run-length-limited line codes of IEEE 802.15.7 PHY I: Manchester (OOK) and 4B6B (VPPM).

Manchester: bit 0 -> chips 0 1, bit 1 -> chips 1 0 (one ON chip per bit: DC balanced, run <= 2).
4B6B: each nibble (MSB first) -> the standard's 6-chip word with exactly three ON chips, sent
left to right. Decoding picks the nearest code word; a received word at equal distance from several
code words is decided as the lowest such nibble and counted (the RS code above corrects it).
"""


from protocols.lifi.errors import LineCodeError

# Index = nibble value; entry = 6-chip word, first-sent chip in the most significant of the 6 bits.
TABLE_4B6B = (
    0b001110, 0b001101, 0b010011, 0b010110,
    0b010101, 0b100011, 0b100110, 0b100101,
    0b011001, 0b011010, 0b011100, 0b110001,
    0b110010, 0b101001, 0b101010, 0b101100,
)

def _build_inverse():
    # For each 6-bit received word: nibble of the nearest code word (lowest nibble on a tie).
    inv = bytearray(64)
    dist = bytearray(64)
    for w in range(64):
        best = 0
        best_d = 7
        for nib in range(16):
            x = w ^ TABLE_4B6B[nib]
            d = 0
            while x:
                d += x & 1
                x >>= 1
            if d < best_d:
                best_d = d
                best = nib
        inv[w] = best
        dist[w] = best_d
    return inv, dist


INVERSE_4B6B, DISTANCE_4B6B = _build_inverse()


def manchester_encode(bits, out=None, pos=0):
    """bits: iterable of 0/1. Writes 2 chips per bit into out[pos:] (allocated if None); returns out."""
    if out is None:
        out = bytearray(2 * len(bits))
        pos = 0
    for b in bits:
        if b:
            out[pos] = 1
            out[pos + 1] = 0
        else:
            out[pos] = 0
            out[pos + 1] = 1
        pos += 2
    return out


def manchester_decode(chips, n_bits, start=0, out=None):
    """Hard decision on chip pairs from chips[start:]. Values above 0.5 are ON; a pair whose two
    chips agree (00 or 11, a chip error) is decided as 1 if its first chip is ON so that decoding never
    stalls; the FEC and CRC above handle it. Returns a bytearray of bits."""
    if len(chips) < start + 2 * n_bits:
        raise LineCodeError("need %d chips, got %d" % (2 * n_bits, len(chips) - start))
    if out is None:
        out = bytearray(n_bits)
    i = start
    for k in range(n_bits):
        a = chips[i]
        b = chips[i + 1]
        out[k] = 1 if a > b or (a == b and a > 0.5) else 0
        i += 2
    return out


def manchester_soft(chips, n_bits, start=0, out=None):
    """Soft bits 0..255 (0 = sure 0, 255 = sure 1, 128 = unknown) from chip pairs whose values are
    0/1 or light levels in 0..1: value = 128 + 127.5 * (first - second), clipped."""
    if len(chips) < start + 2 * n_bits:
        raise LineCodeError("need %d chips, got %d" % (2 * n_bits, len(chips) - start))
    if out is None:
        out = bytearray(n_bits)
    i = start
    for k in range(n_bits):
        v = int(128 + 127.5 * (chips[i] - chips[i + 1]))
        out[k] = 0 if v < 0 else (min(v, 255))
        i += 2
    return out


def encode_4b6b(nibbles, out=None, pos=0):
    """nibbles: iterable of ints 0..15. Writes 6 chips per nibble; returns out."""
    if out is None:
        out = bytearray(6 * len(nibbles))
        pos = 0
    for nib in nibbles:
        w = TABLE_4B6B[nib]
        out[pos] = (w >> 5) & 1
        out[pos + 1] = (w >> 4) & 1
        out[pos + 2] = (w >> 3) & 1
        out[pos + 3] = (w >> 2) & 1
        out[pos + 4] = (w >> 1) & 1
        out[pos + 5] = w & 1
        pos += 6
    return out


def decode_4b6b(chips, n_nibbles, start=0, out=None, stats=None):
    """Nearest-code-word decoding of 6-chip words (chip values above 0.5 are ON).

    Returns a bytearray of nibbles. ``stats`` (dict) counts 'linecode_corrected' words."""
    if len(chips) < start + 6 * n_nibbles:
        raise LineCodeError("need %d chips, got %d" % (6 * n_nibbles, len(chips) - start))
    if out is None:
        out = bytearray(n_nibbles)
    i = start
    corrected = 0
    for k in range(n_nibbles):
        w = 0
        for j in range(6):
            w = (w << 1) | (1 if chips[i + j] > 0.5 else 0)
        if DISTANCE_4B6B[w]:
            corrected += 1
        out[k] = INVERSE_4B6B[w]
        i += 6
    if stats is not None and corrected:
        stats["linecode_corrected"] = stats.get("linecode_corrected", 0) + corrected
    return out
