"""Build a driver from one part entry of the role config (`{"part": "bme280", "bus": 0, "addr": 118}`).

Imports are local so a board loads only the drivers it carries.
"""


def build(hal, buses, spec):
    part = spec["part"]
    if part == "bme280":
        from firmware.drivers.bme280 import BME280
        return BME280(buses.i2c(spec["bus"]), spec["addr"])
    if part == "sht3x":
        from firmware.drivers.sht3x import SHT3x
        return SHT3x(buses.i2c(spec["bus"]), spec["addr"])
    if part == "bh1750":
        from firmware.drivers.bh1750 import BH1750
        return BH1750(buses.i2c(spec["bus"]), spec["addr"])
    if part == "ina219":
        from firmware.drivers.ina219 import INA219
        return INA219(buses.i2c(spec["bus"]), spec["addr"], spec.get("shunt_ohm", 0.1),
                      spec.get("max_current_a", 2.0))
    if part == "pms5003":
        from firmware.drivers.pms5003 import PMS5003
        return PMS5003(buses.uart(spec["uart"]), spec.get("spinup_s", 30.0))
    if part == "noise":
        from firmware.drivers.noise import NoiseMeter
        return NoiseMeter(hal.adc(spec["adc"]), spec.get("kind", "envelope"), spec.get("ref_v", 0.1),
                          spec.get("ref_db", 60.0), spec.get("db_per_v", 50.0))
    if part == "pir":
        import time
        from firmware.drivers.pir import PresenceCounter
        return PresenceCounter(hal.pin(spec["pin"], "in"), hal.ticks_ms, time.ticks_diff,
                               spec.get("hold_ms", 2000))
    if part == "supply":
        from firmware.drivers.supply import SupplyMonitor
        return SupplyMonitor(hal.adc(spec["adc"]), spec.get("divider", 2.0))
    raise ValueError("unknown part %r" % (part,))
