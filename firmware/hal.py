"""Hardware access for the firmware: the one place that touches ``machine``, ``esp32`` and ``network``.

Drivers and roles get their peripherals from a Hal, so the same code runs on an ESP32 and in the
simulator (whose shims stand in for those modules), and tests can hand a role another object with the
same methods.
"""

import time

import machine

_RESET_CAUSES = (
    ("PWRON_RESET", "power-on"),
    ("HARD_RESET", "hard"),
    ("WDT_RESET", "watchdog"),
    ("SOFT_RESET", "soft"),
    ("DEEPSLEEP_RESET", "deep-sleep"),
    ("BROWNOUT_RESET", "brownout"),
)
_PIN_MODES = {"in": "IN", "out": "OUT", "open-drain": "OPEN_DRAIN"}
_PULLS = {"up": "PULL_UP", "down": "PULL_DOWN"}


class Hal:
    def __init__(self, board=None):
        """``board``: the board section of the config (name, chip, ...)."""
        self.board = board or {}
        self._wdt = None

    def i2c(self, bus_id, scl, sda, freq=400000):
        return machine.I2C(bus_id, scl=machine.Pin(scl), sda=machine.Pin(sda), freq=freq)

    def adc(self, pin, atten=None):
        adc = machine.ADC(machine.Pin(pin))
        if atten is not None:
            adc.atten(atten)
        return adc

    def pwm(self, pin, freq, duty_u16):
        return machine.PWM(machine.Pin(pin), freq=freq, duty_u16=duty_u16)

    def pin(self, num, mode, pull=None):
        """``mode``: "in", "out" or "open-drain"; ``pull``: None, "up" or "down"."""
        kind = getattr(machine.Pin, _PIN_MODES[mode])
        if pull is None:
            return machine.Pin(num, kind)
        return machine.Pin(num, kind, getattr(machine.Pin, _PULLS[pull]))

    def uart(self, id, tx, rx, baudrate):
        return machine.UART(id, baudrate=baudrate, tx=tx, rx=rx)

    def rmt(self, channel, pin, clock_div):
        import esp32
        return esp32.RMT(channel, pin=machine.Pin(pin), clock_div=clock_div)

    def wdt(self, timeout_ms):
        """Start the watchdog: from now on the node resets unless feed() is called in time."""
        self._wdt = machine.WDT(timeout=timeout_ms)
        return self._wdt

    def feed(self):
        if self._wdt is not None:
            self._wdt.feed()

    def reset(self):
        machine.reset()

    def unique_id(self):
        return machine.unique_id()

    def reset_cause(self):
        """Why the chip started, in the wire contract's words (birth key 16)."""
        cause = machine.reset_cause()
        for name, word in _RESET_CAUSES:
            if getattr(machine, name, None) == cause:
                return word
        return "unknown"

    def wlan(self):
        import network
        return network.WLAN(network.STA_IF)

    def ticks_ms(self):
        return time.ticks_ms()
