"""``machine`` for a simulated board under the MicroPython unix port (the ESP32 port's API, in part).

Bus traffic goes to the device models of sim/devices; reset and the watchdog end the process (the
board supervisor in sim/board_process.py starts it again, keeping the flash directory), leaving the
reset cause for the next start in ``<board>/.reset``.
"""

import errno
import hashlib
import os
import time

import _board

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
BROWNOUT_RESET = 6

_CAUSES = {"power-on": PWRON_RESET, "hard": HARD_RESET, "watchdog": WDT_RESET, "deep-sleep": DEEPSLEEP_RESET,
           "soft": SOFT_RESET, "brownout": BROWNOUT_RESET}
_cause = _CAUSES.get(_board.take_reset(), PWRON_RESET)


def reset_cause():
    return _cause


def reset():
    _board.write_reset("soft")
    _board.die()


def soft_reset():
    reset()


def unique_id():
    """Six bytes like the ESP32's base MAC: RVB_UNIQUE_ID (12 hex digits) or derived from the board dir."""
    given = os.getenv("RVB_UNIQUE_ID")
    if given:
        return bytes(int(given[i:i + 2], 16) for i in range(0, 12, 2))
    return hashlib.sha256(_board.DIR.encode()).digest()[:6]


def freq(hz=None):
    return 240000000


def idle():
    time.sleep_ms(1)


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


_EDGE_POLL_MS = 100


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self._level = 0 if value is None else int(bool(value))
        self._source = _board.devices.attach_pin(id, _board.DIR) if _board.devices and mode == Pin.IN else None
        self.handler = None
        self._poller = None

    def value(self, v=None):
        if v is None:
            if self._source is not None:
                return self._source()
            return self._level
        self._level = int(bool(v))

    def on(self):
        self._level = 1

    def off(self):
        self._level = 0

    def __call__(self, v=None):
        return self.value(v)

    def irq(self, handler=None, trigger=IRQ_RISING):
        """Edges of a wired input (e.g. a PIR) are found by sampling its level at _EDGE_POLL_MS from
        the firmware's event loop; the handler runs there, as a soft IRQ would."""
        self.handler = handler
        self.trigger = trigger
        if handler is not None and self._source is not None and self._poller is None:
            import asyncio
            self._poller = asyncio.create_task(self._watch_edges())

    async def _watch_edges(self):
        import asyncio
        last = self._source()
        while True:
            await asyncio.sleep_ms(_EDGE_POLL_MS)
            level = self._source()
            if level != last:
                rising = level > last
                if (rising and self.trigger & Pin.IRQ_RISING) or (not rising and self.trigger & Pin.IRQ_FALLING):
                    self.handler(self)
                last = level


class I2C:
    def __init__(self, id, scl=None, sda=None, freq=400000, timeout=50000):
        self.id = id
        self.models = _board.devices.attach(id, _board.DIR) if _board.devices else {}

    def _model(self, addr):
        model = self.models.get(addr)
        if model is None:
            raise OSError(errno.ENODEV)
        return model

    def scan(self):
        found = []
        for addr in sorted(self.models):
            try:
                self.models[addr].writeto(b"")
            except OSError:
                continue
            found.append(addr)
        return found

    def writeto(self, addr, buf, stop=True):
        self._model(addr).writeto(bytes(buf))
        return len(buf)

    def readfrom(self, addr, nbytes, stop=True):
        return self._model(addr).readfrom(nbytes)

    def readfrom_into(self, addr, buf, stop=True):
        buf[:] = self._model(addr).readfrom(len(buf))

    def writeto_then_readfrom(self, addr, out, nbytes):
        model = self._model(addr)
        model.writeto(bytes(out))
        return model.readfrom(nbytes)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self._model(addr).writeto(memaddr.to_bytes(addrsize // 8, "big") + bytes(buf))

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        return self.writeto_then_readfrom(addr, memaddr.to_bytes(addrsize // 8, "big"), nbytes)

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        buf[:] = self.readfrom_mem(addr, memaddr, len(buf), addrsize)


class SoftI2C(I2C):
    pass


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 12

    def __init__(self, pin, atten=None):
        number = pin.id if isinstance(pin, Pin) else pin
        self._volts = _board.devices.attach_adc(number, _board.DIR) if _board.devices else None

    def atten(self, value):
        pass

    def width(self, value):
        pass

    def _v(self):
        return self._volts() if self._volts is not None else 0.0

    def read_uv(self):
        return int(self._v() * 1000000)

    def read_u16(self):
        return max(0, min(65535, int(self._v() / 3.3 * 65535)))

    def read(self):
        return self.read_u16() >> 4


class PWM:
    def __init__(self, pin, freq=5000, duty_u16=0):
        self.pin = pin.id if isinstance(pin, Pin) else pin
        self._freq = freq
        self.duty_u16(duty_u16)

    def freq(self, value=None):
        if value is None:
            return self._freq
        self._freq = value

    def duty_u16(self, value=None):
        if value is None:
            return self._duty
        self._duty = value
        if _board.devices:
            _board.devices.note_pwm(self.pin, value, _board.DIR)

    def deinit(self):
        self.duty_u16(0)


class UART:
    def __init__(self, id, baudrate=115200, tx=None, rx=None, **kwargs):
        self.id = id
        self._model = _board.devices.attach_uart(id, _board.DIR) if _board.devices else None

    def write(self, data):
        if self._model is None:
            return len(data)
        return self._model.write(bytes(data))

    def read(self, n=-1):
        if self._model is None:
            return None
        return self._model.read(n)

    def readinto(self, buf):
        data = self.read(len(buf))
        if not data:
            return None
        buf[:len(data)] = data
        return len(data)

    def any(self):
        return 0 if self._model is None else self._model.any()


# The watchdog counts real milliseconds even in an accelerated run (sim/shims/time.py): it guards the
# board's CPU, which runs at real speed, and simulated time would turn every millisecond the host
# makes the process wait into X of them.
_wdt_ticks_ms = getattr(time, "real_ticks_ms", time.ticks_ms)
_wdt_sleep = getattr(time, "real_sleep", time.sleep)


class WDT:
    """Resets the board (ends the process, cause "watchdog") when not fed within ``timeout`` ms."""

    def __init__(self, id=0, timeout=5000):
        import _thread
        self.timeout = timeout
        self._fed = _wdt_ticks_ms()
        _thread.start_new_thread(self._watch, ())

    def feed(self):
        self._fed = _wdt_ticks_ms()

    def _watch(self):
        # Sleep until the timeout could have run out since the last feed. time.sleep, not sleep_ms:
        # the unix port's sleep_ms wakes every millisecond, which made this thread most of an idle
        # board's CPU.
        while True:
            left = self.timeout - time.ticks_diff(_wdt_ticks_ms(), self._fed)
            if left < 0:
                _board.write_reset("watchdog")
                _board.die()
            _wdt_sleep(max(left + 1, 10) / 1000)


class RTC:
    def __init__(self):
        self._offset = 0

    def datetime(self, value=None):
        if value is None:
            t = time.gmtime(time.time() + self._offset)
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        year, month, day, _, hour, minute, second, _ = value
        self._offset = time.mktime((year, month, day, hour, minute, second, 0, 0)) - time.time()
