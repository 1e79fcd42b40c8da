"""K=7 convolutional code of IEEE 802.15.7 PHY I, mother rate 1/3, generators 133, 171, 165 (octal).

Conventions (the standard's figure, as in IEEE 802.11): a generator's most significant of its 7 bits
taps the current input bit, the least significant the input six bits earlier; encoding starts in the
all-zero state and TAIL_BITS = 6 zero bits are appended so that it ends there too. At each step the
outputs are taken in the order g0 (133), g1 (171), g2 (165), then punctured with a period of two steps:

- rate 1/3: everything sent;
- rate 2/3: step 2m sends g0 g1, step 2m+1 sends g1 (3 bits per 2 input bits);
- rate 1/4: the standard punctures to rate 1/2 (g0 g1 at every step) and then repeats each of those
  bits once, g0 g0 g1 g1, rather than adding a fourth generator.

Decoding is a Viterbi decoder over 64 states working on soft values 0..255 (0 = sure 0, 255 = sure 1,
128 = nothing known: punctured positions). Hard decisions are the special case 0/255; the two copies of
a rate-1/4 bit are averaged. The branch metric is sum |value - 255*expected|.
"""

K = 7
TAIL_BITS = K - 1
GENERATORS = (0o133, 0o171, 0o165)
RATES = ((1, 4), (1, 3), (2, 3))
_STATES = 1 << (K - 1)


def _parity(x):
    p = 0
    while x:
        p ^= 1
        x &= x - 1
    return p


def _build_output_table():
    # Index (u << 6) | state, state = previous six inputs, most recent in bit 5; value = g0 g1 g2 bits.
    table = bytearray(2 * _STATES)
    for reg in range(2 * _STATES):
        v = 0
        for g in GENERATORS:
            v = (v << 1) | _parity(reg & g)
        table[reg] = v
    return table


OUTPUTS = _build_output_table()


def _build_trellis():
    # For each next state ns: its two predecessor states and the 3-bit output of each transition.
    pred0 = bytearray(_STATES)
    code0 = bytearray(_STATES)
    code1 = bytearray(_STATES)
    for ns in range(_STATES):
        u = ns >> 5
        p0 = (ns & 31) << 1
        pred0[ns] = p0
        code0[ns] = OUTPUTS[(u << 6) | p0]
        code1[ns] = OUTPUTS[(u << 6) | p0 | 1]
    return pred0, code0, code1


_PRED0, _CODE0, _CODE1 = _build_trellis()


def _check_rate(rate):
    if rate not in RATES:
        raise ValueError("convolutional code rate must be one of %r, got %r" % (RATES, rate))


def encoded_length(n_bits, rate):
    _check_rate(rate)
    steps = n_bits + TAIL_BITS
    if rate == (1, 3):
        return 3 * steps
    if rate == (1, 4):
        return 4 * steps
    return steps + (steps + 1) // 2


def encode(bits, rate, out=None, pos=0):
    """Encode bits (0/1 values) plus the zero tail; writes into out[pos:] (allocated if None)."""
    _check_rate(rate)
    n = len(bits)
    if out is None:
        out = bytearray(encoded_length(n, rate))
        pos = 0
    state = 0
    outputs = OUTPUTS
    for t in range(n + TAIL_BITS):
        u = bits[t] if t < n else 0
        reg = (u << 6) | state
        v = outputs[reg]
        state = reg >> 1
        g0 = v >> 2
        g1 = (v >> 1) & 1
        if rate == (1, 3):
            out[pos] = g0
            out[pos + 1] = g1
            out[pos + 2] = v & 1
            pos += 3
        elif rate == (1, 4):
            out[pos] = g0
            out[pos + 1] = g0
            out[pos + 2] = g1
            out[pos + 3] = g1
            pos += 4
        elif t & 1:
            out[pos] = g1
            pos += 1
        else:
            out[pos] = g0
            out[pos + 1] = g1
            pos += 2
    return out


def _depuncture(soft, rate, steps):
    # One (g0, g1, g2) triple of soft values per trellis step; 128 where nothing was sent.
    r = bytearray(3 * steps)
    i = 0
    for t in range(steps):
        o = 3 * t
        if rate == (1, 3):
            r[o] = soft[i]
            r[o + 1] = soft[i + 1]
            r[o + 2] = soft[i + 2]
            i += 3
        elif rate == (1, 4):
            r[o] = (soft[i] + soft[i + 1]) >> 1
            r[o + 1] = (soft[i + 2] + soft[i + 3]) >> 1
            r[o + 2] = 128
            i += 4
        elif t & 1:
            r[o] = 128
            r[o + 1] = soft[i]
            r[o + 2] = 128
            i += 1
        else:
            r[o] = soft[i]
            r[o + 1] = soft[i + 1]
            r[o + 2] = 128
            i += 2
    return r


def decode(soft, rate, n_bits):
    """Viterbi decoding of ``encoded_length(n_bits, rate)`` soft values; returns n_bits bits."""
    _check_rate(rate)
    need = encoded_length(n_bits, rate)
    if len(soft) < need:
        raise ValueError("need %d coded values, got %d" % (need, len(soft)))
    steps = n_bits + TAIL_BITS
    r = _depuncture(soft, rate, steps)
    big = 1 << 28
    metric = [big] * _STATES
    metric[0] = 0
    nxt = [0] * _STATES
    decisions = bytearray(steps * 8)
    bm = [0] * 8
    pred0 = _PRED0
    code0 = _CODE0
    code1 = _CODE1
    for t in range(steps):
        r0 = r[3 * t]
        r1 = r[3 * t + 1]
        r2 = r[3 * t + 2]
        for c in range(8):
            bm[c] = ((255 - r0) if c & 4 else r0) + ((255 - r1) if c & 2 else r1) + \
                ((255 - r2) if c & 1 else r2)
        base = t * 8
        for ns in range(_STATES):
            p0 = pred0[ns]
            m0 = metric[p0] + bm[code0[ns]]
            m1 = metric[p0 | 1] + bm[code1[ns]]
            if m1 < m0:
                nxt[ns] = m1
                decisions[base + (ns >> 3)] |= 1 << (ns & 7)
            else:
                nxt[ns] = m0
        metric, nxt = nxt, metric
    # The tail drives the encoder back to state 0: trace back from there.
    out = bytearray(n_bits)
    state = 0
    for t in range(steps - 1, -1, -1):
        d = (decisions[t * 8 + (state >> 3)] >> (state & 7)) & 1
        if t < n_bits:
            out[t] = state >> 5
        state = ((state & 31) << 1) | d
    return out
