"""Battery / supply voltage through a resistor divider on an ADC pin."""

from firmware.drivers.adcvolts import reader


class SupplyMonitor:
    part = "supply"

    def __init__(self, adc, divider=2.0, samples=8):
        """`divider`: (R_top + R_bottom) / R_bottom, the factor from pin voltage to supply voltage."""
        self._volts = reader(adc)
        self._divider = divider
        self._samples = samples

    def read(self):
        """-> supply voltage in V, averaged over a few readings to smooth ADC noise."""
        total = 0.0
        for _ in range(self._samples):
            total += self._volts()
        return total / self._samples * self._divider
