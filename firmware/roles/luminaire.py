"""Street-light luminaire: LED dimming by LEDC PWM, energy metering, lamp fault status, LiFi transmit.

A control loop runs every `control_s`: it reads the ambient light and the energy meter, integrates
energy, decides the level (lighting.decide) and drives the PWM. Commands (args per the wire contract):
`dim` (level 0..100: an override), `schedule` (points; empty for none; ends any override),
`lifi-message` (text, sent as one modem frame), `identify` (blink for `s` seconds). A dim override holds
only while the gateway is heard from: after `gateway_timeout_s` without a command the lamp returns to
the schedule, or to `safe_level` when the time of day is unknown.

Location beacons: with a LiFi transmitter and a `lifi_beacon` table in the role config, the lamp sends
an authenticated beacon (protocols.lifi.beacon) every `period_ms` (default 250: four a second):
    "lifi_beacon": {"key": "<64 hex digits>", "period_ms": 250, "lamp_id": "<12 hex digits>"}
`key` is the per-lamp key, derived at deploy time as derive_lamp_key(site master key, lamp id) so the
site master key never reaches a lamp; it is never logged, reported or echoed. `lamp_id` defaults to the
chip's MAC (machine.unique_id, the node id the runtime derives). Counters start at boot << 20, the boot
number read from the boot state file (firmware.bootstate), so a reboot never reuses one.
"""

import asyncio
import json
import time
from binascii import unhexlify

from firmware import bootstate
from firmware.lifi_seam import BeaconSender, FrameCodec, Transmitter
from firmware.roles import base, lighting, parts

_LAMP_MIN_FRACTION = 0.2   # below this share of the expected power the lamp is not lighting
_STUCK_ON_FRACTION = 0.1   # above this share of nominal power while off, the driver does not switch off
_MAX_MESSAGE_BYTES = 64  # the contract's bound for lifi-message text


def minute_of_day(clock, utc_offset_min=0):
    """Minute of the local day from the injected clock (a fixed UTC offset: summer time is the
    schedule's business), or None while the clock is not synced."""
    epoch = clock.epoch()
    if epoch is None:
        return None
    return (int(epoch // 60) + utc_offset_min) % lighting.MINUTES_PER_DAY


class Luminaire(base.RoleBase):
    name = "luminaire"

    def __init__(self, hal, config, clock):
        base.RoleBase.__init__(self, hal, config, clock)
        light = config.get("lighting", {})
        self.safe_level = light.get("safe_level", 70)
        self.gateway_timeout_ms = int(light.get("gateway_timeout_s", 3600) * 1000)
        self.nominal_w = light.get("nominal_w", 30.0)
        self.control_s = light.get("control_s", 5.0)
        self.utc_offset_min = light.get("utc_offset_min", 0)
        self._daylight = lighting.Daylight(light.get("dark_lux", 20.0), light.get("day_lux", 60.0))
        sched = light.get("schedule")
        self.schedule = lighting.check_schedule(sched) if sched else None
        self.period_s = config.get("period", base.DEFAULT_PERIOD_S)
        self._led_spec = config["led"]
        self._pwm = None
        self._pwm_level = None
        self._specs = {}
        for spec in config.get("parts", ()):
            if spec["part"] in ("ina219", "bh1750"):
                self._specs[spec["part"]] = spec
        self._meter_key = "ina219" if "ina219" in self._specs else None
        self._ambient_key = "bh1750" if "bh1750" in self._specs else None
        self._drivers = {}
        self._tx = None
        self._beacons = None
        self._beacon_error = None
        self._beacon_task = None
        spec = config.get("lifi_tx")
        if spec is not None:
            # Built here, before the runtime's buffers and the MQTT client split the heap: the beacon
            # frame buffers need blocks of one or two KB each.
            self._tx = Transmitter(lambda div: hal.rmt(spec["rmt_channel"], spec["pin"], div),
                                   spec["chip_rate"], FrameCodec(spec.get("mode", "ook-100k")))
            self._beacons = self._beacon_sender(config.get("lifi_beacon"))
        self.level = 0
        self._override = None
        self._contact_ms = None
        self._blink = None
        self._blink_until = 0
        self.lux = None
        self.power_w = None
        self.energy_wh = 0.0
        self._energy_at_sample = 0.0
        self._sample_ms = None
        self._meter_ms = None
        self._level_settled = False
        self.lamp = "unknown"
        self.lifi_sent = 0
        self._task = None

    # --- parts ----------------------------------------------------------------------------------

    def _driver(self, part):
        """The driver of `part` (built on first use), or None when the board has none or its bus fails."""
        drv = self._drivers.get(part)
        if drv is None and part in self._specs:
            try:
                drv = self._drivers[part] = parts.build(self._hal, self._buses, self._specs[part])
            except OSError:
                self._book.fail(part, "absent")
        return drv

    def capabilities(self):
        caps = [base.capability("dim", self.period_s)]
        if self._meter_key:
            caps.append(base.capability("power", self.period_s))
            caps.append(base.capability("energy", self.period_s))
        if self._ambient_key:
            caps.append(base.capability("lux", self.period_s))
        return caps

    async def start(self):
        led = self._led_spec
        self._pwm = self._hal.pwm(led["pin"], led.get("freq", 2000), 0)
        if self._beacons is not None:
            self._beacon_task = asyncio.create_task(self._beacon_loop())
        now = self._hal.ticks_ms()
        self._sample_ms = now
        self._meter_ms = now
        await self.control()
        self._task = asyncio.create_task(self._control_loop())

    def stop(self):
        for task in (self._task, self._blink, self._beacon_task):
            if task is not None:
                task.cancel()
        self._task = None
        self._beacon_task = None

    # --- LiFi beacons ---------------------------------------------------------------------------

    def _beacon_sender(self, spec):
        if not spec:
            return None
        boot = _boot_number()
        if boot is None:
            self._beacon_error = "no boot state: beacon counters could repeat, beacons off"
            return None
        try:
            key = unhexlify(spec["key"])
            lamp_id = spec.get("lamp_id") or self._hal.unique_id()
            return BeaconSender(self._tx, lamp_id, key, boot, spec.get("period_ms", 250))
        except MemoryError:
            self._beacon_error = "not enough memory for the beacon buffers"
            return None
        except (KeyError, ValueError, TypeError) as exc:
            # Said without the key's value: a config error must not leak the secret into a log.
            self._beacon_error = "lifi_beacon config unusable (%s)" % type(exc).__name__
            return None

    async def _beacon_loop(self):
        beacons = self._beacons
        # Polled at twice the beacon rate: the scheduler decides when one is due and skips (and
        # counts) periods the loop fell behind on rather than sending a burst.
        pause_ms = max(1, beacons.scheduler.period_ms // 2)
        while beacons.stopped is None:
            try:
                beacons.poll(self._hal.ticks_ms())
            except OSError as exc:
                self._beacon_error = "RMT: %s" % exc
            except MemoryError:
                self._beacon_error = "not enough memory for a beacon"
            await asyncio.sleep(pause_ms / 1000)
        self._beacon_error = beacons.stopped

    async def _control_loop(self):
        while True:
            await asyncio.sleep(self.control_s)
            await self.control()

    # --- control --------------------------------------------------------------------------------

    def _override_level(self, now):
        if self._override is None:
            return None
        if self._contact_ms is None or time.ticks_diff(now, self._contact_ms) >= self.gateway_timeout_ms:
            self._override = None  # the gateway is gone: do not hold its last word forever
            return None
        return self._override

    async def control(self):
        """One control step: meter, ambient light, level decision, PWM, lamp status."""
        now = self._hal.ticks_ms()
        self._meter_step(now)
        ambient = self._driver("bh1750")
        if ambient is not None:
            self.lux = await base.attempt(self._book, self._ambient_key, ambient.read())
        dark = self._daylight.update(self.lux)
        level = lighting.decide(self._override_level(now), dark,
                                minute_of_day(self._clock, self.utc_offset_min), self.schedule, self.safe_level)
        if self._blink is None:
            self._drive(level)

    async def _identify(self):
        # Full on / off every half second until _blink_until (an identify command may push it later),
        # then back to the decided level.
        on = True
        try:
            while time.ticks_diff(self._blink_until, self._hal.ticks_ms()) > 0:
                self._drive(100 if on else 0)
                on = not on
                await asyncio.sleep(0.5)
        finally:
            self._blink = None
        await self.control()

    def _drive(self, level):
        self._level_settled = level == self.level
        if level != self._pwm_level and self._pwm is not None:
            self._pwm.duty_u16(lighting.duty_u16(level, self._led_spec.get("min_level", 0)))
            self._pwm_level = level
        self.level = level

    def _meter_step(self, now):
        meter = self._driver("ina219")
        if meter is None:
            return
        got = base.call(self._book, self._meter_key, meter.read)
        dt_h = time.ticks_diff(now, self._meter_ms) / 3600000
        self._meter_ms = now
        if got is None:
            self.power_w = None
            self._set_lamp("unknown")
            return
        watts = got[3]
        if self.power_w is not None:
            self.energy_wh += (self.power_w + watts) / 2 * dt_h  # trapezoid between readings
        self.power_w = watts
        self._check_lamp(watts)

    def _check_lamp(self, watts):
        if not self._level_settled:
            return  # the driver is still ramping to a new level
        if self.level > 0:
            expected = self.nominal_w * self.level / 100
            self._set_lamp("fault" if watts < _LAMP_MIN_FRACTION * expected else "on", "no-load")
        else:
            self._set_lamp("fault" if watts > _STUCK_ON_FRACTION * self.nominal_w else "off", "stuck-on")

    def _set_lamp(self, state, reason=None):
        if state == self.lamp:
            return
        if state == "fault":
            self._book.event("lamp-fault", {"reason": reason, "dim": self.level})
        elif self.lamp == "fault":
            self._book.event("lamp-ok", {"lamp": state})
        self.lamp = state

    # --- runtime interface ----------------------------------------------------------------------

    async def sample(self):
        records = []
        book = self._book
        base.readings(book, "led", ("dim",), (self.level,), records)
        now = self._hal.ticks_ms()
        self._meter_step(now)  # energy up to this instant, whatever the control step's phase
        if self._meter_key and self.power_w is not None:
            hours = time.ticks_diff(now, self._sample_ms) / 3600000
            used = self.energy_wh - self._energy_at_sample
            mean_w = used / hours if hours > 0 and used > 0 else self.power_w
            base.readings(book, self._meter_key, ("power", "energy"), (mean_w, self.energy_wh), records)
        if self._ambient_key and self.lux is not None:
            base.readings(book, self._ambient_key, ("lux",), (self.lux,), records)
        self._sample_ms = now
        self._energy_at_sample = self.energy_wh
        return records

    def status_ext(self):
        ext = {"dim": self.level, "lamp": self.lamp, "override": self._override is not None}
        if self._tx is not None:
            ext["lifi_sent"] = self.lifi_sent
        if self._beacons is not None:
            ext["lifi_beacons"] = self._beacons.sent
        if self._beacon_error is not None:
            ext["lifi_beacon_error"] = self._beacon_error
        if self._book.events_dropped:
            ext["events_dropped"] = self._book.events_dropped
        return ext

    async def command(self, op, args):
        if op not in ("dim", "schedule", "lifi-message", "identify"):
            return None
        args = args or {}
        self._contact_ms = self._hal.ticks_ms()
        try:
            if op == "dim":
                result = self._cmd_dim(args)
            elif op == "schedule":
                # The gateway hands the lamp back to its schedule: any dim override ends here.
                points = args.get("points")
                self.schedule = lighting.check_schedule(points) if points else None
                self._override = None
                result = ("ok", {"points": len(self.schedule) if self.schedule else 0})
            elif op == "lifi-message":
                result = self._cmd_lifi(args)
            else:
                s = args.get("s", 5)
                if not isinstance(s, (int, float)) or not 1 <= s <= 3600:
                    raise ValueError("s must be 1..3600 seconds")
                self._blink_until = time.ticks_add(self._hal.ticks_ms(), int(s * 1000))
                if self._blink is None:
                    self._blink = asyncio.create_task(self._identify())
                return ("ok", None)
        except ValueError as exc:
            return ("bad-args", str(exc))
        await self.control()
        return result

    def _cmd_dim(self, args):
        level = args.get("level")
        self._override = lighting.check_level(level)
        return ("ok", {"dim": level})

    def _cmd_lifi(self, args):
        text = args.get("text")
        if not isinstance(text, str) or not text:
            raise ValueError("text must be a non-empty string")
        payload = text.encode()
        if len(payload) > _MAX_MESSAGE_BYTES:
            raise ValueError("text is %d bytes, at most %d" % (len(payload), _MAX_MESSAGE_BYTES))
        if self._tx is None:
            return ("error", "this luminaire has no LiFi transmitter")
        try:
            chips = self._tx.send(payload)
        except OSError as exc:
            return ("error", "RMT: %s" % exc)
        except MemoryError:
            # The frame's pulse list did not fit in the heap left: refuse the message, keep lighting.
            return ("error", "not enough memory for a %d-byte LiFi frame" % len(payload))
        self.lifi_sent += 1
        return ("ok", {"chips": chips})



def _boot_number():
    """This boot's number from the boot state the entry point wrote before starting the role."""
    try:
        with open(bootstate.FILE) as f:
            boot = json.load(f).get("boot")
    except (OSError, ValueError):
        return None
    return boot if isinstance(boot, int) and boot > 0 else None
