"""Forward error correction chain of IEEE 802.15.7 PHY I: RS outer code, interleaver, CC inner code.

Bytes become GF(16) symbols high nibble first (bits are sent most significant first). With both RS and
CC, the RS output of the whole field (PHR or PSDU) goes through the standard's block interleaver:
with S encoded symbols, D = ceil(S / 15) columns, the stream is padded with p = 15*D - S dummy
symbols, read out at l(i) = (i mod D) * 15 + floor(i / D) and the dummy positions are removed
(punctured), so a burst of chip errors is spread over several RS code words.
"""

from array import array

from protocols.lifi import cc as cc_code
from protocols.lifi import rs as rs_code
from protocols.lifi.errors import FECError

RS_N = 15


def byte_nibbles(data, out=None):
    if out is None:
        out = bytearray(2 * len(data))
    for i in range(len(data)):
        b = data[i]
        out[2 * i] = b >> 4
        out[2 * i + 1] = b & 15
    return out


def nibble_bytes(nibbles, n_bytes):
    out = bytearray(n_bytes)
    for i in range(n_bytes):
        out[i] = (nibbles[2 * i] << 4) | nibbles[2 * i + 1]
    return out


def nibble_bits(nibbles, out=None):
    if out is None:
        out = bytearray(4 * len(nibbles))
    j = 0
    for nib in nibbles:
        out[j] = (nib >> 3) & 1
        out[j + 1] = (nib >> 2) & 1
        out[j + 2] = (nib >> 1) & 1
        out[j + 3] = nib & 1
        j += 4
    return out


def bit_nibbles(bits, n_nibbles):
    out = bytearray(n_nibbles)
    for i in range(n_nibbles):
        j = 4 * i
        out[i] = (bits[j] << 3) | (bits[j + 1] << 2) | (bits[j + 2] << 1) | bits[j + 3]
    return out


def interleave_order(s):
    """Source index of each interleaved position for s symbols (array of uint16)."""
    d = (s + RS_N - 1) // RS_N
    order = array("H", bytes(2 * s))
    j = 0
    for i in range(RS_N * d):
        src = (i % d) * RS_N + i // d
        if src < s:  # positions past s are the dummies, punctured
            order[j] = src
            j += 1
    return order


def interleave(symbols):
    s = len(symbols)
    out = bytearray(s)
    order = interleave_order(s)
    for i in range(s):
        out[i] = symbols[order[i]]
    return out


def deinterleave(symbols):
    s = len(symbols)
    out = bytearray(s)
    order = interleave_order(s)
    for i in range(s):
        out[order[i]] = symbols[i]
    return out


def coded_nibble_count(n_bytes, rs):
    n = 2 * n_bytes
    return n if rs is None else rs_code.encoded_length(n, rs[1])


def coded_bit_count(n_bytes, rs, cc):
    n = 4 * coded_nibble_count(n_bytes, rs)
    return n if cc is None else cc_code.encoded_length(n, cc)


def encode_nibbles(data, rs, interleaved=False):
    """data bytes -> GF(16) symbols after the RS code (and the interleaver when a CC follows)."""
    nibs = byte_nibbles(data)
    if rs is None:
        return nibs
    enc = rs_code.encode(nibs, rs[1])
    return interleave(enc) if interleaved else enc


def encode_bits(data, rs, cc):
    """data bytes -> coded bits (0/1) after RS, interleaver and CC as the mode asks."""
    bits = nibble_bits(encode_nibbles(data, rs, cc is not None))
    return bits if cc is None else cc_code.encode(bits, cc)


def decode_nibbles(nibbles, rs, n_bytes, interleaved=False, reliability=None, max_erasures=None):
    """Inverse of encode_nibbles; returns (bytes, corrected RS symbols). Raises FECError.

    ``reliability`` (one number per received symbol, in received order, lower = less sure) turns on
    GMD decoding: blocks that fail errors-only are retried erasing their least reliable symbols, up to
    ``max_erasures`` (default 15 - k) per block."""
    if rs is None:
        return nibble_bytes(nibbles, n_bytes), 0
    count = rs_code.encoded_length(2 * n_bytes, rs[1])
    enc = nibbles[:count]
    if reliability is not None:
        reliability = reliability[:count]
    if interleaved:
        enc = deinterleave(enc)
        if reliability is not None:
            order = interleave_order(count)
            sent = reliability
            reliability = [0] * count
            for i in range(count):
                reliability[order[i]] = sent[i]
    if max_erasures == 0:
        reliability = None
    try:
        data, corrected = rs_code.decode(enc, rs[1], 2 * n_bytes, reliability=reliability,
                                         max_erasures=max_erasures)
    except rs_code.RSError as exc:
        raise FECError(str(exc)) from None  # the message says it all; chaining costs on the chip
    return nibble_bytes(data, n_bytes), corrected


def decode_bits(values, rs, cc, n_bytes, soft=False):
    """Inverse of encode_bits. ``values`` are bits 0/1, or soft values 0..255 when soft is true
    (only the CC uses softness; without a CC they are sliced at 128). Returns (bytes, corrected), where
    corrected counts coded bits the Viterbi decoder overruled plus RS symbols repaired."""
    n_nib = coded_nibble_count(n_bytes, rs)
    cc_fixed = 0
    if cc is not None:
        if soft:
            s = values
        else:
            s = bytearray(len(values))
            for i in range(len(values)):
                s[i] = 255 if values[i] else 0
        bits = cc_code.decode(s, cc, 4 * n_nib)
        cc_fixed = _disagreements(s, cc_code.encode(bits, cc))
    elif soft:
        bits = bytearray(4 * n_nib)
        for i in range(4 * n_nib):
            bits[i] = 1 if values[i] >= 128 else 0
    else:
        bits = values
    data, corrected = decode_nibbles(bit_nibbles(bits, n_nib), rs, n_bytes, cc is not None)
    return data, corrected + cc_fixed


def _disagreements(soft, coded):
    # Coded bits the Viterbi decoder overruled (undecided values, 128, are not counted).
    n = 0
    for i in range(len(coded)):
        v = soft[i]
        if v != 128 and (v > 128) != (coded[i] == 1):
            n += 1
    return n
