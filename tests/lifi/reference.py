"""Independent reference computations straight from the definitions, shared by the CPython tests and
mpy_check.py (so written in the CPython/MicroPython common subset). Deliberately naive: no tables."""


def gf_mul(a, b):
    """Carry-less product of two GF(16) elements reduced modulo x^4 + x + 1."""
    p = 0
    for i in range(4):
        if (b >> i) & 1:
            p ^= a << i
    for deg in (6, 5, 4):
        if (p >> deg) & 1:
            p ^= 0x13 << (deg - 4)
    return p


def gf_pow(a, n):
    r = 1
    for _ in range(n):
        r = gf_mul(r, a)
    return r


def poly_mul(p, q):
    """Product of polynomials over GF(16), coefficient lists highest degree first."""
    out = [0] * (len(p) + len(q) - 1)
    for i in range(len(p)):
        for j in range(len(q)):
            out[i + j] ^= gf_mul(p[i], q[j])
    return out


def rs_generator(n_parity):
    """prod_{i=1..n_parity} (x - alpha^i), alpha = 2 (minus is plus in characteristic 2)."""
    g = [1]
    for i in range(1, n_parity + 1):
        g = poly_mul(g, [1, gf_pow(2, i)])
    return g


def poly_mod(dividend, divisor):
    """Remainder of polynomial long division over GF(16) (divisor monic), highest degree first."""
    r = list(dividend)
    for i in range(len(r) - len(divisor) + 1):
        coef = r[i]
        if coef:
            for j in range(len(divisor)):
                r[i + j] ^= gf_mul(coef, divisor[j])
    return r[len(r) - len(divisor) + 1:]


def rs_parity(data, k):
    """Parity of a systematic RS(15,k) code word: (m(x) * x^(15-k)) mod g(x)."""
    n_par = 15 - k
    return poly_mod(list(data) + [0] * n_par, rs_generator(n_par))


def cc_encode_rate_third(bits, generators=(0o133, 0o171, 0o165)):
    """Mother-code output from the generator taps: tap j of a generator (bit 6 - j of its 7-bit
    value) multiplies the input j steps back; 6 zero tail bits terminate the code."""
    u = list(bits) + [0] * 6
    out = []
    for t in range(len(u)):
        for g in generators:
            v = 0
            for j in range(7):
                if (g >> (6 - j)) & 1 and t - j >= 0:
                    v ^= u[t - j]
            out.append(v)
    return out


def crc16_bitwise(data):
    """CRC-16 x^16+x^12+x^5+1, preset ones, complemented, MSB first, one bit at a time."""
    r = 0xFFFF
    for byte in data:
        for i in range(7, -1, -1):
            bit = (byte >> i) & 1
            top = (r >> 15) & 1
            r = (r << 1) & 0xFFFF
            if top ^ bit:
                r ^= 0x1021
    return r ^ 0xFFFF


def lcg_bytes(seed, n):
    """Deterministic pseudo-random bytes (same on CPython and MicroPython)."""
    out = bytearray(n)
    x = seed & 0x7FFFFFFF
    for i in range(n):
        x = (1103515245 * x + 12345) & 0x7FFFFFFF
        out[i] = (x >> 16) & 0xFF
    return out
