"""Arithmetic in GF(16) with the primitive polynomial x^4 + x + 1 (IEEE 802.15.7 PHY I RS codes).

Elements are ints 0..15 (bit i = coefficient of alpha^i in the polynomial basis); alpha = 2.
Tables are built once at import: 30 + 16 bytes.
"""

PRIMITIVE = 0x13  # x^4 + x + 1
ORDER = 15  # multiplicative group order

# EXP holds two periods so that EXP[LOG[a] + LOG[b]] never needs a modulo.
EXP = bytearray(2 * ORDER)
LOG = bytearray(16)


def _build_tables():
    x = 1
    for i in range(ORDER):
        EXP[i] = x
        EXP[i + ORDER] = x
        LOG[x] = i
        x <<= 1
        if x & 0x10:
            x ^= PRIMITIVE


_build_tables()


def mul(a, b):
    if a == 0 or b == 0:
        return 0
    return EXP[LOG[a] + LOG[b]]


def div(a, b):
    if b == 0:
        raise ZeroDivisionError("division by zero in GF(16)")
    if a == 0:
        return 0
    return EXP[LOG[a] - LOG[b] + ORDER]


def power(a, n):
    """a**n for any integer n (negative n gives inverses)."""
    if a == 0:
        if n <= 0:
            raise ZeroDivisionError("0 has no inverse in GF(16)")
        return 0
    return EXP[(LOG[a] * n) % ORDER]


def alpha_power(n):
    return EXP[n % ORDER]


def poly_eval(coeffs, x):
    """Horner evaluation; coeffs[0] is the highest-degree coefficient."""
    y = 0
    for c in coeffs:
        y = mul(y, x) ^ c
    return y
