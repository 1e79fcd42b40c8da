"""INA219 at register level: 16-bit big-endian registers, calibration-scaled current and power.

The measured load is the luminaire's LED: its current follows the LED level the environment knows
(reported by the PWM shim, else a night-time default). An injected "absent" fault on part "lamp"
models an open lamp circuit: the meter works, the lamp draws nothing.
"""

from sim.devices.base import I2CModel

_POR = {0x00: 0x399F, 0x05: 0}


def _trunc_div(a, b):
    q = abs(a) // b
    return q if a >= 0 else -q


class INA219(I2CModel):
    part = "ina219"

    def __init__(self, wiring, env, addr, spec):
        super().__init__(wiring, env, addr, spec)
        self.regs = dict(_POR)
        self.ptr = 0
        self.bus_v = spec.get("bus_v", 24.0)
        self.shunt_ohm = spec.get("shunt_ohm", 0.1)
        self.full_a = spec.get("full_a", 1.2)
        self.idle_a = spec.get("idle_a", 0.02)

    def load_current(self):
        if self.wiring.fault("lamp") == "absent":
            return self.idle_a
        return self.idle_a + self.full_a * self.env.lamp_level(self.env.now())

    def writeto(self, data):
        self.fault()
        if not data:
            return
        self.ptr = data[0]
        if len(data) >= 3 and self.ptr in (0x00, 0x05):
            value = (data[1] << 8) | data[2]
            if self.ptr == 0x00 and value & 0x8000:
                self.regs = dict(_POR)
            else:
                self.regs[self.ptr] = value & (0xFFFE if self.ptr == 0x05 else 0xFFFF)

    def _measure(self, reg):
        shunt = int(self.load_current() * self.shunt_ohm / 10e-6)
        shunt = max(-32000, min(32000, shunt))  # PGA /8: +-320 mV
        bus = int(self.bus_v / 0.004)
        ovf = 1 if self.wiring.fault(self.part) == "range" else 0
        current = _trunc_div(shunt * self.regs[0x05], 4096)
        if reg == 0x01:
            return shunt & 0xFFFF
        if reg == 0x02:
            return (bus << 3) | 0x02 | ovf
        if reg == 0x03:
            return _trunc_div(current * bus, 5000) & 0xFFFF
        return current & 0xFFFF

    def readfrom(self, n):
        self.fault()
        reg = self.ptr
        value = self.regs.get(reg, 0) if reg in (0x00, 0x05) else self._measure(reg)
        return bytes((value >> 8, value & 0xFF))[:n]
