"""What every role shares: guarded driver calls, fault bookkeeping, SenML readings, bus setup.

Role interface the runtime calls:
    name                          "sensor" | "luminaire" | "lifi-rx"
    __init__(hal, config, clock)  config: the role section of the on-chip config
    capabilities()                [[name, unit, period_s], ...]
    async start()                 build drivers, start background tasks
    async sample()                -> SenML records (integer labels, quantised values)
    faults()                      {part: reason}
    status_ext()                  role-specific status (key 28)
    async command(op, args)       -> (result, detail) or None when the role does not handle `op`
    events()                      drain [(kind, detail), ...] to publish as evt
"""

from protocols import senml

from firmware.drivers.fault import RANGE, SensorFault, from_oserror

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

MAX_EVENTS = const(16)
DEFAULT_PERIOD_S = const(60)


def reading(name, value):
    """-> a SenML record for a registered quantity, range-checked and quantised.
    Raises SensorFault(range) for a value outside the registered range."""
    try:
        senml.check(name, value)
    except ValueError as exc:
        raise SensorFault(RANGE, str(exc))
    return senml.record(name, senml.quantise(name, value), senml.REGISTRY[name][0])


def capability(name, period_s):
    return [name, senml.REGISTRY[name][0], period_s]


class FaultBook:
    """Current fault per part, and the events its changes raise (bounded: oldest dropped, counted)."""

    def __init__(self):
        self.current = {}
        self._events = []
        self.events_dropped = 0

    def event(self, kind, detail):
        if len(self._events) >= MAX_EVENTS:
            self._events.pop(0)
            self.events_dropped += 1
        self._events.append((kind, detail))

    def fail(self, part, reason):
        if self.current.get(part) != reason:
            self.current[part] = reason
            self.event("sensor-fault", {"part": part, "reason": reason})

    def ok(self, part):
        if part in self.current:
            del self.current[part]
            self.event("sensor-ok", {"part": part})

    def drain(self):
        events = self._events
        self._events = []
        return events


async def attempt(book, part, awaitable):
    """Await a driver call; a failure is booked against `part` and gives None (retried next period).
    Success is booked by readings(), once the values are known to be in range."""
    try:
        return await awaitable
    except (SensorFault, OSError) as exc:
        _book_failure(book, part, exc)
        return None


def call(book, part, fn):
    """attempt() for a synchronous driver call."""
    try:
        return fn()
    except (SensorFault, OSError) as exc:
        _book_failure(book, part, exc)
        return None


def _book_failure(book, part, exc):
    book.fail(part, exc.reason if isinstance(exc, SensorFault) else from_oserror(exc).reason)


def readings(book, part, names, values, records, done=None):
    """Append the records of one part's values to `records`; a quantity already in `done` (given by
    another part this period) is skipped. One value out of range makes the whole reading suspect:
    nothing is appended and the part is booked `range`; otherwise the part is booked healthy."""
    mine = []
    try:
        for i in range(len(names)):
            if done is None or names[i] not in done:
                mine.append(reading(names[i], values[i]))
    except SensorFault as exc:
        book.fail(part, exc.reason)
        return
    book.ok(part)
    for rec in mine:
        records.append(rec)
        if done is not None:
            done.append(rec[senml.N])


class RoleBase:
    """The injected parts every role holds, with the fault book and the buses built from them."""

    def __init__(self, hal, config, clock):
        self._hal = hal
        self._config = config
        self._clock = clock
        self._book = FaultBook()
        self._buses = Buses(hal, config)

    def faults(self):
        return dict(self._book.current)

    async def command(self, op, args):
        return None  # not an op of this role: the runtime answers it or acks unknown-op

    def events(self):
        return self._book.drain()


class Buses:
    """Buses of the role section, opened through the HAL on first use and shared by the parts."""

    def __init__(self, hal, config):
        self._hal = hal
        self._i2c_specs = config.get("i2c", {})
        self._uart_specs = config.get("uart", {})
        self._open = {}

    def i2c(self, bus_id):
        key = "i2c%d" % bus_id
        bus = self._open.get(key)
        if bus is None:
            s = self._i2c_specs[str(bus_id)]
            bus = self._open[key] = self._hal.i2c(bus_id, s["scl"], s["sda"], s.get("freq", 100000))
        return bus

    def uart(self, uart_id):
        key = "uart%d" % uart_id
        bus = self._open.get(key)
        if bus is None:
            s = self._uart_specs[str(uart_id)]
            bus = self._open[key] = self._hal.uart(uart_id, s["tx"], s["rx"], s.get("baudrate", 9600))
        return bus
