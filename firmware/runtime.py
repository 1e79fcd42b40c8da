"""The node runtime: what every role shares between power-on and the next reset.

It owns the MQTT session (will = death, birth on every connect), the per-boot per-channel sequence
numbers, time stamps, the reporting period, the store-and-forward ring (every reading is stored before
it is published and replayed in order until acknowledged), status messages, the generic commands,
the watchdog, safe mode and reconnect backoff. The role (``firmware/roles``) only measures and acts.
"""

import asyncio
import gc
import time
from binascii import hexlify

from firmware import config as configuration
from firmware.backoff import Backoff, startup_delay_ms
from firmware.mqtt import MQTTClient, MQTTError
from firmware.ring import RingError
from protocols import cbor, messages, senml, topics

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

FIRMWARE_VERSION = "0.1.0"
_QUEUE_MAX = const(16)       # received commands / role events waiting: oldest dropped, counted
_CMD_MAX_BYTES = const(2048)
_WIFI_TIMEOUT_MS = const(15000)
_NTP_RETRY_MS = const(10000)


def data_payload(boot, seq, time_field, pack):
    """The CBOR of a data message around an already encoded SenML pack (no decode on replay)."""
    head = bytearray(cbor.dumps({messages.BOOT: boot, messages.SEQ: seq, messages.TIME: time_field}))
    head[0] = 0xA4  # the 3-entry map header becomes a 4-entry one; key 4 and the pack follow
    head.append(messages.PACK)
    head.extend(pack)
    return head


def stored_pack(records):
    """The CBOR a reading takes in the ring: units the SenML registry implies are left out, about a
    third of a sensor pack, which is what lets 256 KB of flash hold a day at one reading a minute."""
    registry = senml.REGISTRY
    compact = []
    for record in records:
        name = record.get(senml.N)
        if senml.U in record and name in registry and registry[name][0] == record[senml.U]:
            record = dict(record)
            del record[senml.U]
        compact.append(record)
    return cbor.dumps(compact)


def wire_pack(stored):
    """The SenML pack to publish for a stored one: registry units put back (a record that came without
    one gets its registered unit, which is the same statement)."""
    records = cbor.loads(stored)
    registry = senml.REGISTRY
    for record in records:
        name = record.get(senml.N)
        if senml.U not in record and name in registry:
            record[senml.U] = registry[name][0]
    return cbor.dumps(records)


def whole_seconds(period_s):
    """The contract's uint period for a period that tests may set below a second."""
    return max(1, int(period_s + 0.5))


class _Queue:
    """A bounded FIFO that drops its oldest item when full and counts it."""

    def __init__(self, limit):
        self.items = []
        self.limit = limit
        self.dropped = 0
        self.ready = asyncio.Event()

    def put(self, item):
        if len(self.items) >= self.limit:
            self.items.pop(0)
            self.dropped += 1
        self.items.append(item)
        self.ready.set()

    async def get(self):
        while not self.items:
            self.ready.clear()
            await self.ready.wait()
        return self.items.pop(0)


class Runtime:
    def __init__(self, hal, cfg, role, boot, ring, clock, config_path=configuration.FILE,
                 reset_cause="unknown"):
        """``role`` is None in safe mode; ``boot`` a begun BootState; ``ring`` an open Ring."""
        self.hal = hal
        self.cfg = cfg
        self.role = role
        self.boot = boot
        self.ring = ring
        self.clock = clock
        self.config_path = config_path
        self.reset_cause = reset_cause
        get = configuration.get
        self.site = get(cfg, "node.site")
        self.mac = hexlify(hal.unique_id()).decode()
        self.node_id = get(cfg, "node.id") or self.mac
        self._topics = {}
        for channel in topics.UPLINK + ("cmd",):
            self._topics[channel] = topics.build(self.site, self.node_id, channel).encode()
        self.period = get(cfg, "period")
        self.status_period = get(cfg, "status_period")
        self.replay_per_s = get(cfg, "replay_per_s")
        self.data_seq = 0
        # A birth's seq is the next data seq (wire contract), so births need no counter of their own.
        self._seq = {"status": 0, "evt": 0, "ack": 0}
        self._cmds = _Queue(_QUEUE_MAX)
        self._events = _Queue(_QUEUE_MAX)
        self._new_data = asyncio.Event()
        self._online = asyncio.Event()
        self._stop = asyncio.Event()
        self._sampled_ms = 0
        self.counters = {"bad_cmd": 0, "role_errors": 0, "store_errors": 0, "task_errors": 0,
                         "memory_errors": 0}
        self.backoff = Backoff(get(cfg, "backoff.base_ms"), get(cfg, "backoff.cap_ms"))
        self.mqtt = self._client()

    def _client(self):
        get = configuration.get
        ssl_context = None
        if get(self.cfg, "mqtt.tls"):
            import ssl
            ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ca = get(self.cfg, "mqtt.ca")
            if ca:
                ssl_context.load_verify_locations(cafile=ca)
                ssl_context.verify_mode = ssl.CERT_REQUIRED
            else:
                ssl_context.verify_mode = ssl.CERT_NONE
        will = (self._topics["death"], cbor.dumps(messages.death(self.boot.boot)), 1, False)
        return MQTTClient(self.node_id, get(self.cfg, "mqtt.host"), get(self.cfg, "mqtt.port"),
                          user=get(self.cfg, "mqtt.user"), password=get(self.cfg, "mqtt.password"),
                          keepalive=get(self.cfg, "mqtt.keepalive"), ssl=ssl_context, will=will,
                          clean_session=False, max_packet=_CMD_MAX_BYTES, on_message=self._on_message)

    # --------------------------------------------------------------------------------- messages

    def _next_seq(self, channel):
        seq = self._seq[channel]
        self._seq[channel] = seq + 1
        return seq

    def role_name(self):
        if self.role is not None:
            return self.role.name
        return self.cfg["role"].get("name", "sensor")

    def birth(self):
        board = self.cfg["board"]
        hw = {"chip": board.get("chip", "esp32"), "mac": self.mac}
        if "flash_size" in board:
            hw["flash"] = board["flash_size"]
        caps = []
        if self.role is not None:
            for name, unit, period_s in self.role.capabilities():
                caps.append([name, unit, whole_seconds(period_s)])
        return messages.birth(self.boot.boot, self.data_seq, self.clock.now_wire(), self.role_name(),
                              board.get("name", "unknown"), hw, FIRMWARE_VERSION, caps,
                              configuration.digest(self.config_path), self.reset_cause, self.boot.safe,
                              self.ring.dropped, self.ring.buffered)

    def status(self):
        faults = {}
        ext = {}
        if self.role is not None:
            faults = self.role.faults()
            ext = self.role.status_ext()
        for name in self.counters:
            if self.counters[name]:
                ext[name] = self.counters[name]
        if self._cmds.dropped:
            ext["cmd_dropped"] = self._cmds.dropped
        if self._events.dropped:
            ext["evt_dropped"] = self._events.dropped
        if self.mqtt.oversize:
            ext["mqtt_oversize"] = self.mqtt.oversize
        if self.ring.torn:
            ext["ring_torn"] = self.ring.torn
        gc.collect()  # report what is live, not what the next collection would free
        return messages.status(self.boot.boot, self._next_seq("status"), self.clock.now_wire(),
                               self.clock.uptime_ms() // 1000, gc.mem_free(), gc.mem_alloc(), self._rssi(),
                               self.ring.dropped, self.ring.buffered, faults,
                               whole_seconds(self.period), ext)

    def _rssi(self):
        try:
            return int(self.hal.wlan().status("rssi"))
        except (OSError, ValueError, TypeError, AttributeError):
            return 0

    async def _publish(self, channel, msg):
        await self.mqtt.publish(self._topics[channel], cbor.dumps(msg), 1)

    # ------------------------------------------------------------------------------------ running

    async def run(self):
        """Start the role and every task; return when stop() is called."""
        watchdog_ms = configuration.get(self.cfg, "watchdog_ms")
        if watchdog_ms:
            self.hal.wdt(watchdog_ms)
        if self.role is not None:
            await self.role.start()
        loops = [self._connection_loop, self._sender_loop, self._event_loop, self._command_loop,
                 self._status_loop, self._stability, self._ntp_loop]
        if self.role is not None:
            loops.append(self._sample_loop)
        running = [asyncio.create_task(self._supervised(loop)) for loop in loops]
        if watchdog_ms:
            # Not supervised: if feeding stops, the watchdog resetting the node is the right outcome.
            running.append(asyncio.create_task(self._watchdog_loop(watchdog_ms)))
        await self._stop.wait()
        for task in running:
            task.cancel()
        await self.mqtt.disconnect()
        self.ring.close()

    def stop(self):
        self._stop.set()

    def _failed(self, where, exc):
        """Count a failure a task survived; a MemoryError (a fragmented heap) also gets a collection."""
        self.counters["task_errors"] += 1
        if isinstance(exc, MemoryError):
            self.counters["memory_errors"] += 1
            gc.collect()
        print("%s failed:" % where, repr(exc))

    async def _supervised(self, loop):
        """Run one of the node's loops (a bound method) for as long as the node runs: a loop that dies
        (a MemoryError in a fragmented heap, a bug) is counted and started again instead of leaving the
        node half alive (no commands, no data) until the watchdog or a power cut."""
        while True:
            try:
                await loop()
                return
            except Exception as exc:  # CancelledError is a BaseException: stop() still ends the loops
                self._failed("task", exc)
            await asyncio.sleep_ms(1000)

    async def _wifi_up(self):
        ssid = configuration.get(self.cfg, "wifi.ssid")
        if ssid is None:
            return
        wlan = self.hal.wlan()
        wlan.active(True)
        if wlan.isconnected():
            return
        wlan.connect(ssid, configuration.get(self.cfg, "wifi.password"))
        start = time.ticks_ms()
        while not wlan.isconnected():
            if time.ticks_diff(time.ticks_ms(), start) > _WIFI_TIMEOUT_MS:
                raise OSError("Wi-Fi %r not joined within %d ms" % (ssid, _WIFI_TIMEOUT_MS))
            await asyncio.sleep_ms(100)

    async def _connection_loop(self):
        # A street powers up at once: spread the first connections.
        await asyncio.sleep_ms(startup_delay_ms(configuration.get(self.cfg, "startup_delay_ms")))
        cmd_topic = self._topics["cmd"]
        while True:
            try:
                await self._wifi_up()
                await self.mqtt.connect()
                await self.mqtt.subscribe(cmd_topic, 1)
                self.backoff.reset()
                asyncio.create_task(self._announce(self.mqtt.connects))
                await self.mqtt.wait_down()
            except (OSError, MQTTError, asyncio.TimeoutError):
                self.mqtt.abort()
            self._online.clear()
            await asyncio.sleep_ms(self.backoff.next_ms())

    async def _announce(self, connection):
        """Publish the birth of this connection; data flows once the broker has it. Building it can fail
        in a fragmented heap: then it is tried again, as nothing flows on this connection without it."""
        while self.mqtt.connected and self.mqtt.connects == connection:
            try:
                await self._publish("birth", self.birth())
            except Exception as exc:
                self._failed("birth", exc)
                await asyncio.sleep_ms(1000)
                continue
            if self.mqtt.connected and self.mqtt.connects == connection:
                self._online.set()
            return

    async def _sample_loop(self):
        next_ms = time.ticks_ms()
        while True:
            next_ms = time.ticks_add(next_ms, int(self.period * 1000))
            kind, value = self.clock.stamp()
            try:
                records = await self.role.sample()
            except Exception as exc:  # a role bug must not stop the node; it is counted and shown
                self.counters["role_errors"] += 1
                print("role sample failed:", repr(exc))
                records = None
            self._sampled_ms = time.ticks_ms()
            if records:
                self._store(kind, value, records)
            for event in self.role.events():
                self._events.put(event)
            wait = time.ticks_diff(next_ms, time.ticks_ms())
            if wait < 0:
                # Overran the period (or the period shrank): start afresh instead of bursting.
                next_ms = time.ticks_ms()
                wait = 0
            await asyncio.sleep_ms(wait)

    def _store(self, kind, value, records):
        try:
            self.ring.append(self.boot.boot, self.data_seq, kind, value, stored_pack(records))
        except (RingError, OSError) as exc:
            # The reading is lost (flash failing, or a pack over the record limit): the data sequence
            # numbers stored readings only, so it stays dense and the loss shows in store_errors.
            self.counters["store_errors"] += 1
            print("ring append failed:", repr(exc))
            return
        self.data_seq += 1
        self._new_data.set()

    async def _sender_loop(self):
        data_topic = self._topics["data"]
        while True:
            await self._online.wait()
            item = self.ring.next()
            if item is None:
                self._new_data.clear()
                await self._new_data.wait()
                continue
            position, boot, seq, kind, value, pack = item
            time_field = self.clock.wire(kind, value, boot == self.boot.boot)
            await self.mqtt.publish(data_topic, data_payload(boot, seq, time_field, wire_pack(pack)), 1)
            self.ring.delivered(position)
            if self.ring.pending():
                # Replaying a backlog: leave the broker and the radio room for live traffic.
                await asyncio.sleep_ms(int(1000 / self.replay_per_s))

    async def _event_loop(self):
        while True:
            kind, detail = await self._events.get()
            await self._online.wait()
            msg = messages.evt(self.boot.boot, self._next_seq("evt"), self.clock.now_wire(), kind, detail)
            await self._publish("evt", msg)

    async def _status_loop(self):
        while True:
            await asyncio.sleep_ms(int(self.status_period * 1000))
            if self._online.is_set():
                await self._publish("status", self.status())

    async def _stability(self):
        await asyncio.sleep_ms(int(configuration.get(self.cfg, "stable_after_s") * 1000))
        self.boot.mark_stable()

    async def _ntp_loop(self):
        host = configuration.get(self.cfg, "ntp.host")
        if host is None:
            return
        port = configuration.get(self.cfg, "ntp.port")
        while True:
            try:
                await self.clock.sync(host, port)
                await asyncio.sleep_ms(int(configuration.get(self.cfg, "ntp.every_s") * 1000))
            except OSError as exc:
                print("ntp:", exc)
                await asyncio.sleep_ms(_NTP_RETRY_MS)

    async def _watchdog_loop(self, timeout_ms):
        # Fed only while the sampling loop keeps turning: a role stuck in a driver resets the node.
        limit = max(timeout_ms, int(self.period * 2000))
        while True:
            await asyncio.sleep_ms(timeout_ms // 4)
            if self.role is None or time.ticks_diff(time.ticks_ms(), self._sampled_ms) < limit:
                self.hal.feed()

    # ----------------------------------------------------------------------------------- commands

    def _on_message(self, topic, payload):
        if topic == self._topics["cmd"]:
            self._cmds.put(payload)

    async def _command_loop(self):
        while True:
            payload = await self._cmds.get()
            await self._command(payload)

    async def _command(self, payload):
        gc.collect()  # commands are rare and may need a few contiguous blocks: start from a clean heap
        try:
            msg = cbor.loads(payload, max_size=_CMD_MAX_BYTES, max_depth=8, max_items=256)
        except ValueError as exc:
            self.counters["bad_cmd"] += 1
            print("cmd: not CBOR:", exc)
            return
        cmd_id = msg.get(messages.ID) if isinstance(msg, dict) else None
        if type(cmd_id) is not int or cmd_id < 0:
            self.counters["bad_cmd"] += 1
            print("cmd: no usable id")
            return
        try:
            messages.validate("cmd", msg)
        except messages.MessageError as exc:
            self.counters["bad_cmd"] += 1
            result = "unknown-op" if exc.reason == messages.UNKNOWN_OP else "bad-args"
            await self._ack(cmd_id, result, str(exc))
            return
        op = msg[messages.OP]
        args = msg.get(messages.ARGS) or {}
        try:
            result, detail = await self._execute(op, args)
        except Exception as exc:  # a failing command answers "error" instead of killing the node
            result, detail = "error", repr(exc)
        await self._ack(cmd_id, result, detail)
        if op == "reboot" and result == "ok":
            await self._reboot()

    async def _ack(self, cmd_id, result, detail):
        msg = messages.ack(self.boot.boot, self._next_seq("ack"), self.clock.now_wire(), cmd_id, result, detail)
        await self._publish("ack", msg)

    async def _execute(self, op, args):
        """-> (result, detail) for one validated command."""
        if op == "reboot":
            return "ok", None
        if op == "rebirth":
            asyncio.create_task(self._announce(self.mqtt.connects))
            return "ok", None
        if op == "status":
            await self._publish("status", self.status())
            return "ok", None
        if op == "period":
            return self._set_config({"period": args["s"]})
        if op == "config":
            return self._set_config(args)
        if self.role is None:
            return "error", "safe mode: only network and console run"
        answer = await self.role.command(op, args)
        if answer is not None:
            return answer
        if op == "identify":
            return await self._identify(args["s"])
        return "unknown-op", "role %s does not handle %s" % (self.role.name, op)

    def _set_config(self, changes):
        try:
            new = configuration.changed(self.cfg, changes)
        except configuration.ConfigError as exc:
            return "bad-args", str(exc)
        configuration.save(new, self.config_path)
        self.cfg = new
        get = configuration.get
        self.period = get(new, "period")
        self.status_period = get(new, "status_period")
        self.replay_per_s = get(new, "replay_per_s")
        later = [key for key in changes if key not in configuration.LIVE]
        self._events.put(("config-changed", {"keys": sorted(changes)}))
        # The config hash changed: tell the gateway with a fresh birth.
        asyncio.create_task(self._announce(self.mqtt.connects))
        return "ok", ({"after_reboot": sorted(later)} if later else None)

    async def _identify(self, seconds):
        led = configuration.get(self.cfg, "status_led")
        if led is None:
            return "error", "board has no status LED"
        pin = self.hal.pin(led, "out")
        end = time.ticks_add(time.ticks_ms(), seconds * 1000)
        while time.ticks_diff(end, time.ticks_ms()) > 0:
            pin.value(not pin.value())
            await asyncio.sleep_ms(250)
        pin.value(0)
        return "ok", None

    async def _reboot(self):
        self.boot.clear_for_operator_reboot()
        await self.mqtt.disconnect()
        self.ring.close()
        self.hal.reset()
