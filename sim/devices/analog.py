"""Analogue parts as pin voltages: the microphone front end, the supply divider, the photodiode.

Injected faults: "absent" reads 0 V (a disconnected input pulled down), "range" reads the ADC's
full scale (a shorted or saturated input).
"""

_FULL_SCALE_V = 3.3


def microphone(env, spec):
    kind = spec.get("kind", "envelope")
    ref_v = spec.get("ref_v", 0.1)
    ref_db = spec.get("ref_db", 60.0)
    db_per_v = spec.get("db_per_v", 50.0)

    def volts():
        level = env.noise_db(env.now())
        if kind == "envelope":
            return ref_v * 10 ** ((level - ref_db) / 20)
        return level / db_per_v
    return volts


def battery(env, spec):
    divider = spec.get("divider", 2.0)
    return lambda: env.supply_v(env.now()) / divider


def photodiode(env, spec):
    # Ambient light only. With the optical medium wired (sim.json "optical"), the luminaires' light
    # comes from it (sim/devices/optical.py), and this is what the photodiode sees when it is silent.
    gain = spec.get("v_per_klx", 0.08)
    return lambda: min(_FULL_SCALE_V, 0.02 + gain * env.lux(env.now()) / 1000)


KINDS = {"microphone": microphone, "battery": battery, "photodiode": photodiode}


def with_faults(wiring, part, volts):
    def read():
        reason = wiring.fault(part, sampled=True)
        if reason == "absent":
            return 0.0
        if reason == "range":
            return _FULL_SCALE_V
        return max(0.0, min(_FULL_SCALE_V, volts()))
    return read
