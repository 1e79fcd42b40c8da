"""Theoretical bit error rates of the PHY I line codes on an additive white Gaussian noise channel.

SNR convention (intensity modulation is limited by the LED's peak, so the reference is the peak):

    gamma = A^2 T / N0

A is the electrical amplitude between "LED off" and "LED at peak" after the photodiode, T the optical
clock period (one chip), N0/2 the two-sided noise power spectral density. With a matched-filter receiver
that decides between two waveforms s0, s1 the error probability is Q(||s0 - s1|| / sqrt(2 N0)):

* OOK-Manchester, one bit = two chips, s0 = (A, 0), s1 = (0, A): ||s0 - s1||^2 = 2 A^2 T, so

      BER_Manchester = Q(sqrt(gamma))                  (= Q(sqrt(2 Eb/N0)), Eb the AC energy per bit)

* VPPM with duty d, one symbol per optical clock period, pulse of width dT at the start (0) or the end (1):
  the pulses overlap for d > 1/2, ||s0 - s1||^2 = 2 A^2 T min(d, 1 - d), so

      BER_VPPM(d) = Q(sqrt(gamma min(d, 1 - d)))     per VPPM symbol (one 4B6B code bit)

  d = 1/2 is Manchester on a half-period chip: both formulas agree once the chip length is accounted for.

For a discrete-time simulation with S noise samples per optical clock period of standard deviation sigma
and amplitude A: gamma = A^2 S / (2 sigma^2).

`ebn0_db` converts gamma to Eb/N0 per information bit (AC energy), the axis used to quote coding gain.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_NORMAL = NormalDist()


def q_function(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def q_inverse(p: float) -> float:
    if not 0.0 < p < 0.5:
        raise ValueError("Q^-1 is defined here for 0 < p < 0.5, got %r" % p)
    return -_NORMAL.inv_cdf(p)


def db(x: float) -> float:
    return 10.0 * math.log10(x)


def undb(x_db: float) -> float:
    return 10.0 ** (x_db / 10.0)


def ber_manchester(gamma: float) -> float:
    return q_function(math.sqrt(gamma))


def gamma_manchester(ber: float) -> float:
    """The gamma at which uncoded OOK-Manchester reaches `ber`."""
    return q_inverse(ber) ** 2


def ber_vppm(gamma: float, duty: float) -> float:
    return q_function(math.sqrt(gamma * min(duty, 1.0 - duty)))


def gamma_vppm(ber: float, duty: float) -> float:
    return q_inverse(ber) ** 2 / min(duty, 1.0 - duty)


def ebn0_db_manchester(gamma: float, code_rate: float = 1.0) -> float:
    """Eb/N0 per information bit: a Manchester bit carries AC energy A^2 T / 2 over two chips."""
    return db(gamma / 2.0 / code_rate)


def noise_sigma(gamma: float, amplitude: float, samples_per_period: float) -> float:
    """Per-sample noise standard deviation giving `gamma` in a simulation with S samples per period."""
    return amplitude * math.sqrt(samples_per_period / (2.0 * gamma))


def snr_gap_db(measured_ber: float, gamma: float, theory_gamma_for_ber) -> float:
    """Horizontal distance to theory: how many dB more SNR the measurement needed than theory says.

    Positive = worse than theory. `theory_gamma_for_ber(ber)` inverts the theoretical curve."""
    return db(gamma) - db(theory_gamma_for_ber(measured_ber))
