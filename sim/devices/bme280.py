"""BME280 at register level: chip id, NVM trimming, forced-mode measurement into 0xF7..0xFE.

Raw ADC values are found by inverting the datasheet's floating-point compensation (appendix 8.1) with
a bisection, so the firmware's integer compensation is checked against an independent formula.
"""

import struct

from sim.devices.base import RegisterModel

# Trimming of the datasheet's worked example (T1..P9) and typical humidity trimming.
TRIM = {"t1": 27504, "t2": 26435, "t3": -1000,
        "p1": 36477, "p2": -10685, "p3": 3024, "p4": 2855, "p5": 140, "p6": -7, "p7": 15500,
        "p8": -14600, "p9": 6000,
        "h1": 75, "h2": 362, "h3": 0, "h4": 313, "h5": 50, "h6": 30}


def t_fine_float(c, adc_t):
    var1 = (adc_t / 16384.0 - c["t1"] / 1024.0) * c["t2"]
    var2 = (adc_t / 131072.0 - c["t1"] / 8192.0) ** 2 * c["t3"]
    return var1 + var2


def pressure_float(c, adc_p, t_fine):
    var1 = t_fine / 2.0 - 64000.0
    var2 = var1 * var1 * c["p6"] / 32768.0
    var2 = var2 + var1 * c["p5"] * 2.0
    var2 = var2 / 4.0 + c["p4"] * 65536.0
    var1 = (c["p3"] * var1 * var1 / 524288.0 + c["p2"] * var1) / 524288.0
    var1 = (1.0 + var1 / 32768.0) * c["p1"]
    if var1 == 0:
        return 0.0
    p = 1048576.0 - adc_p
    p = (p - var2 / 4096.0) * 6250.0 / var1
    var1 = c["p9"] * p * p / 2147483648.0
    var2 = p * c["p8"] / 32768.0
    return p + (var1 + var2 + c["p7"]) / 16.0


def humidity_float(c, adc_h, t_fine):
    h = t_fine - 76800.0
    h = (adc_h - (c["h4"] * 64.0 + c["h5"] / 16384.0 * h)) * (
        c["h2"] / 65536.0 * (1.0 + c["h6"] / 67108864.0 * h * (1.0 + c["h3"] / 67108864.0 * h)))
    h = h * (1.0 - c["h1"] * h / 524288.0)
    return min(100.0, max(0.0, h))


def _bisect(f, target, lo, hi, increasing):
    """-> the integer x in [lo, hi) whose f(x) is closest from below (or above) to target."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (f(mid) <= target) == increasing:
            lo = mid
        else:
            hi = mid
    return lo


class BME280(RegisterModel):
    part = "bme280"

    def __init__(self, wiring, env, addr, spec):
        super().__init__(wiring, env, addr, spec)
        self.trim = TRIM
        self._reset()

    def _reset(self):
        c = self.trim
        r = self.regs
        for i in range(len(r)):
            r[i] = 0
        r[0xD0] = 0x60
        struct.pack_into("<HhhHhhhhhhhh", r, 0x88, c["t1"], c["t2"], c["t3"], c["p1"], c["p2"], c["p3"],
                         c["p4"], c["p5"], c["p6"], c["p7"], c["p8"], c["p9"])
        r[0xA1] = c["h1"]
        struct.pack_into("<h", r, 0xE1, c["h2"])
        r[0xE3] = c["h3"]
        r[0xE4] = (c["h4"] >> 4) & 0xFF
        r[0xE5] = ((c["h5"] & 0x0F) << 4) | (c["h4"] & 0x0F)
        r[0xE6] = (c["h5"] >> 4) & 0xFF
        r[0xE7] = c["h6"] & 0xFF
        # Data registers hold the "skipped" pattern until a first measurement.
        r[0xF7:0xFF] = b"\x80\x00\x00\x80\x00\x00\x80\x00"

    def raw_for(self, temp_c, pres_pa, hum_rh):
        """-> (adc_t, adc_p, adc_h) the sensor would output for these physical values."""
        c = self.trim
        adc_t = _bisect(lambda x: t_fine_float(c, x) / 5120.0, temp_c, 0, 1 << 20, True)
        tf = t_fine_float(c, adc_t)
        adc_p = _bisect(lambda x: pressure_float(c, x, tf), pres_pa, 0, 1 << 20, False)
        adc_h = _bisect(lambda x: humidity_float(c, x, tf), hum_rh, 0, 1 << 16, True)
        return adc_t, adc_p, adc_h

    def on_write(self, reg, value):
        if reg == 0xE0:
            if value == 0xB6:
                self._reset()
            return
        self.regs[reg] = value
        if reg == 0xF4 and value & 0x03:
            self._measure()
            if value & 0x03 != 0x03:  # forced mode falls back to sleep once done
                self.regs[0xF4] = value & 0xFC

    def _measure(self):
        r = self.regs
        if self.wiring.fault(self.part) == "range":
            r[0xF7:0xFF] = b"\x80\x00\x00\x80\x00\x00\x80\x00"
            return
        env = self.env
        t = env.now()
        adc_t, adc_p, adc_h = self.raw_for(env.temperature(t), env.pressure(t), env.humidity(t))
        r[0xF7] = adc_p >> 12
        r[0xF8] = (adc_p >> 4) & 0xFF
        r[0xF9] = (adc_p & 0x0F) << 4
        r[0xFA] = adc_t >> 12
        r[0xFB] = (adc_t >> 4) & 0xFF
        r[0xFC] = (adc_t & 0x0F) << 4
        r[0xFD] = adc_h >> 8
        r[0xFE] = adc_h & 0xFF
