"""Noise level LAeq over the reporting period from an analogue sound-level front end on an ADC pin.

Approximation, stated: the ESP32 cannot A-weight raw audio through its ADC alongside the application,
so the A-weighting and RMS detection are left to the analogue module and this driver averages its
output energetically over the period. Two module kinds are supported:
- "envelope": output voltage proportional to RMS sound pressure (e.g. a MAX4466 or MAX9814 stage with
  an envelope detector). L = ref_db + 20 log10(v / ref_v); the period level is
  ref_db + 10 log10(mean(v^2) / ref_v^2), i.e. the mean of the squared pressure.
- "linear-db": output voltage linear in dB (e.g. DFRobot SEN0232, dBA = 50 * v); the period level is
  10 log10(mean(10^(L/10))).
The figure is an A-weighted LAeq only if the module applies A-weighting; otherwise it is a flat Leq.
Sampling at a few Hz under-reads short impulsive noise the envelope detector does not hold.
"""

import math

from firmware.drivers.adcvolts import reader

_MIN_V = 1e-4  # below the ADC's resolution: treat as the floor rather than log(0)


class NoiseMeter:
    part = "noise"

    def __init__(self, adc, kind="envelope", ref_v=0.1, ref_db=60.0, db_per_v=50.0):
        if kind not in ("envelope", "linear-db"):
            raise ValueError("noise kind must be envelope or linear-db, got %r" % (kind,))
        self._volts = reader(adc)
        self._kind = kind
        self._ref_v = ref_v
        self._ref_db = ref_db
        self._db_per_v = db_per_v
        self._energy = 0.0
        self._n = 0

    def sample(self):
        """Accumulate one ADC reading; called by the role's sampling task at a steady rate."""
        v = self._volts()
        if self._kind == "envelope":
            if v < _MIN_V:
                v = _MIN_V
            self._energy += (v / self._ref_v) ** 2
        else:
            self._energy += 10 ** (v * self._db_per_v / 10)
        self._n += 1

    def take(self):
        """-> the period's equivalent level in dB, or None before a first sample; starts a new period."""
        if self._n == 0:
            return None
        mean = self._energy / self._n
        self._energy = 0.0
        self._n = 0
        if self._kind == "envelope":
            return self._ref_db + 10 * math.log10(mean)
        return 10 * math.log10(mean)
