"""MQTT 3.1.1 client for the node (asyncio, non-blocking, bounded memory).

QoS 0 and 1 out, QoS 0 and 1 in; will message; clean_session=False so the broker keeps the node's
subscription and its queued commands across outages; keepalive pings; TLS through an ``ssl`` context.

A QoS 1 publish stays in the in-flight table (``max_inflight`` entries) until its PUBACK arrives: it is
sent again with the DUP flag after every reconnect (MQTT-4.4.0-1) and after ``retry_ms`` without an
answer. A broker that vanishes shows up as a read error, an end of stream or a keepalive timeout, all
of which end the connection the same clean way: ``connected`` turns false, ``wait_down()`` returns,
and unacknowledged messages wait for the next ``connect()``.

Received packets land in one buffer of ``max_packet`` bytes allocated once; a larger packet is read
through it and discarded (counted in ``oversize``).
"""

import asyncio
import struct
import time

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

_IPPROTO_TCP = const(6)   # the same numbers in lwIP (ESP32) and Linux; the ports' socket modules
_TCP_NODELAY = const(1)   # do not all name them
_CONNECT = const(0x10)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBSCRIBE = const(0x82)
_SUBACK = const(0x90)
_PINGREQ = const(0xC0)
_PINGRESP = const(0xD0)
_DISCONNECT = const(0xE0)
_DUP = const(0x08)

_REFUSALS = ("accepted", "unacceptable protocol version", "identifier rejected", "server unavailable",
             "bad user name or password", "not authorized")


def _no_delay(stream):
    """Turn Nagle's algorithm off: a packet leaves in several writes (fixed header, body, payload), and
    with it every write after the first waits for the broker's delayed ACK, ~40 ms per SUBSCRIBE or
    PUBLISH (enough to miss the SUBACK timeout in an accelerated simulation)."""
    sock = getattr(stream, "s", None)
    try:
        sock.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
    except (AttributeError, OSError, TypeError):
        pass  # a TLS stream, or a port without the option: slower, still correct


class MQTTError(Exception):
    """A protocol failure: refused connection, malformed packet, refused subscription."""


class MQTTDisconnected(MQTTError):
    """The connection is gone (or was never up) when an operation needed it."""


def _utf8(text):
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def _field(data):
    return struct.pack("!H", len(data)) + data


class MQTTClient:
    def __init__(self, client_id, host, port=1883, user=None, password=None, keepalive=60, ssl=None,
                 will=None, clean_session=False, max_inflight=8, max_packet=2048, on_message=None,
                 connect_timeout_ms=5000, retry_ms=None):
        """``will``: (topic, payload, qos, retain). ``on_message(topic: bytes, payload: bytes)`` is
        called in the reader task; it must not block (queue the work)."""
        self.client_id = _utf8(client_id)
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.ssl = ssl
        self.will = will
        self.clean_session = clean_session
        self.max_inflight = max_inflight
        self.on_message = on_message
        self.connect_timeout_ms = connect_timeout_ms
        self.retry_ms = retry_ms if retry_ms is not None else keepalive * 1000
        self.connected = False
        self.session_present = False
        self.oversize = 0         # received packets larger than max_packet, discarded
        self.retransmits = 0      # QoS 1 publishes sent again with DUP
        self.connects = 0
        self._rx = bytearray(max_packet)
        self._rx_view = memoryview(self._rx)
        self._head = bytearray(5)  # fixed header: type byte + up to 4 length bytes
        self._pid_buf = bytearray(2)
        self._reader = None
        self._writer = None
        self._write_lock = asyncio.Lock()
        self._up = asyncio.Event()
        self._down = asyncio.Event()
        self._down.set()
        self._space = asyncio.Event()
        self._inflight = {}        # pid -> [topic, payload, retain, done Event]
        self._suback = {}          # pid -> [Event, granted qos]
        self._next_pid = 0
        self._tasks = []
        self._last_rx = 0
        self._last_tx = 0

    # --------------------------------------------------------------------------------- connection

    async def connect(self):
        """One connection attempt; raises OSError, asyncio.TimeoutError or MQTTError on failure."""
        if self.connected:
            return
        if self.ssl is not None:
            opening = asyncio.open_connection(self.host, self.port, ssl=self.ssl, server_hostname=self.host)
        else:
            opening = asyncio.open_connection(self.host, self.port)
        timeout = self.connect_timeout_ms / 1000
        self._reader, self._writer = await asyncio.wait_for(opening, timeout)
        _no_delay(self._writer)
        try:
            await self._write_packet(_CONNECT, self._connect_body(), None, None)
            await asyncio.wait_for(self._read_connack(), timeout)
        except BaseException:
            self._close_stream()
            raise
        self.connected = True
        self.connects += 1
        self._last_rx = self._last_tx = time.ticks_ms()
        self._down.clear()
        self._up.set()
        self._tasks = [asyncio.create_task(self._read_loop()), asyncio.create_task(self._keepalive_loop())]
        for pid in list(self._inflight):
            entry = self._inflight.get(pid)
            if entry is not None:
                self.retransmits += 1
                await self._send_publish(pid, entry, _DUP)

    def _connect_body(self):
        flags = 0 if not self.clean_session else 0x02
        payload = _field(self.client_id)
        if self.will is not None:
            topic, message, qos, retain = self.will
            flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
            payload += _field(_utf8(topic)) + _field(bytes(message))
        if self.user is not None:
            flags |= 0x80
            payload += _field(_utf8(self.user))
            if self.password is not None:
                flags |= 0x40
                payload += _field(_utf8(self.password))
        return b"\x00\x04MQTT\x04" + bytes((flags,)) + struct.pack("!H", self.keepalive) + payload

    async def _read_connack(self):
        first, length = await self._read_head()
        if first != _CONNACK or length != 2:
            raise MQTTError("expected CONNACK, got packet type 0x%02x" % first)
        await self._read_into(2)
        if self._rx[1] != 0:
            code = self._rx[1]
            reason = _REFUSALS[code] if code < len(_REFUSALS) else "code %d" % code
            raise MQTTError("connection refused: %s" % reason)
        self.session_present = bool(self._rx[0] & 1)

    def _close_stream(self):
        writer = self._writer
        self._reader = self._writer = None
        if writer is not None:
            try:
                writer.close()
            except OSError:
                pass

    def abort(self):
        """End the connection at once, without DISCONNECT (so the broker publishes the will): what
        happens whoever notices it is gone, and what a caller does to drop a half-open connection."""
        if not self.connected:
            self._close_stream()
            return
        self.connected = False
        self._close_stream()
        self._up.clear()
        self._down.set()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._tasks = []
        for waiter in self._suback.values():
            waiter[0].set()

    async def wait_up(self):
        await self._up.wait()

    async def wait_down(self):
        await self._down.wait()

    async def disconnect(self):
        """Say goodbye (the broker then drops the will) and close."""
        if self.connected:
            try:
                await self._write_packet(_DISCONNECT, b"", None, None)
            except MQTTDisconnected:
                pass
        self.abort()

    # ------------------------------------------------------------------------------------ writing

    async def _write_packet(self, first, body, extra, payload):
        """Send fixed header + body (+ extra + payload) under the write lock."""
        size = len(body) + (len(extra) if extra is not None else 0) + (len(payload) if payload is not None else 0)
        # The shared header buffer is filled under the lock: a writer waiting for the lock would
        # otherwise send the fixed header (type, remaining length) another waiter wrote after it.
        async with self._write_lock:
            head = self._head
            head[0] = first
            n = 1
            while True:
                byte = size & 0x7F
                size >>= 7
                head[n] = byte | (0x80 if size else 0)
                n += 1
                if not size:
                    break
            writer = self._writer
            if writer is None:
                raise MQTTDisconnected("not connected")
            try:
                writer.write(head[:n])
                writer.write(body)
                if extra is not None:
                    writer.write(extra)
                if payload is not None:
                    writer.write(payload)
                await writer.drain()
            except OSError as exc:
                self.abort()
                raise MQTTDisconnected("connection lost while writing: %s" % exc)
        self._last_tx = time.ticks_ms()

    async def _send_publish(self, pid, entry, dup):
        topic, payload, retain = entry[0], entry[1], entry[2]
        first = _PUBLISH | 0x02 | dup | (1 if retain else 0)
        pid_bytes = struct.pack("!H", pid)
        await self._write_packet(first, _field(topic), pid_bytes, payload)

    def _new_pid(self):
        while True:
            self._next_pid = self._next_pid % 65535 + 1
            if self._next_pid not in self._inflight and self._next_pid not in self._suback:
                return self._next_pid

    async def publish(self, topic, payload, qos=0, retain=False):
        """QoS 0: send now or raise MQTTDisconnected. QoS 1: return once the broker acknowledged it,
        however many reconnects that takes (the message waits in the in-flight table meanwhile)."""
        topic = _utf8(topic)
        if qos == 0:
            await self._write_packet(_PUBLISH | (1 if retain else 0), _field(topic), None, payload)
            return
        while len(self._inflight) >= self.max_inflight:
            self._space.clear()
            await self._space.wait()
        pid = self._new_pid()
        done = asyncio.Event()
        entry = [topic, payload, retain, done]
        self._inflight[pid] = entry
        dup = 0
        while True:
            if self.connected:
                try:
                    await self._send_publish(pid, entry, dup)
                except MQTTDisconnected:
                    pass  # connect() sends it again
            try:
                await asyncio.wait_for(done.wait(), self.retry_ms / 1000)
                return
            except asyncio.TimeoutError:
                # No PUBACK in retry_ms: send again if the connection still stands, else keep waiting
                # for connect() to do it.
                if pid not in self._inflight:
                    return
                if not self.connected:
                    await done.wait()
                    return
                dup = _DUP
                self.retransmits += 1

    async def subscribe(self, topic, qos=1):
        pid = self._new_pid()
        waiter = [asyncio.Event(), None]
        self._suback[pid] = waiter
        try:
            await self._write_packet(_SUBSCRIBE, struct.pack("!H", pid) + _field(_utf8(topic)) + bytes((qos,)),
                                     None, None)
            await asyncio.wait_for(waiter[0].wait(), self.connect_timeout_ms / 1000)
        finally:
            self._suback.pop(pid, None)
        if waiter[1] is None:
            raise MQTTDisconnected("connection lost before SUBACK")
        if waiter[1] == 0x80:
            raise MQTTError("subscription to %r refused" % (topic,))
        return waiter[1]

    def inflight(self):
        return len(self._inflight)

    # ------------------------------------------------------------------------------------ reading

    async def _read_into(self, n):
        """Fill _rx[:n] from the stream."""
        got = 0
        view = self._rx_view
        while got < n:
            count = await self._reader.readinto(view[got:n])
            if not count:
                raise MQTTDisconnected("connection closed by the broker")
            got += count

    async def _read_head(self):
        await self._read_into(1)
        first = self._rx[0]
        length = 0
        shift = 0
        while True:
            await self._read_into(1)
            byte = self._rx[0]
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return first, length
            shift += 7
            if shift > 21:
                raise MQTTError("malformed remaining length")

    async def _discard(self, n):
        chunk = len(self._rx)
        while n > 0:
            step = n if n < chunk else chunk
            await self._read_into(step)
            n -= step

    async def _read_loop(self):
        try:
            while True:
                first, length = await self._read_head()
                self._last_rx = time.ticks_ms()
                kind = first & 0xF0
                if kind == _PUBLISH:
                    await self._on_publish(first, length)
                    continue
                if length > len(self._rx):
                    raise MQTTError("control packet of %d bytes" % length)
                await self._read_into(length)
                if kind == _PUBACK:
                    entry = self._inflight.pop(self._rx[0] << 8 | self._rx[1], None)
                    if entry is not None:
                        entry[3].set()
                        self._space.set()
                elif kind == _SUBACK:
                    waiter = self._suback.get(self._rx[0] << 8 | self._rx[1])
                    if waiter is not None:
                        waiter[1] = self._rx[2]
                        waiter[0].set()
                elif kind != _PINGRESP:
                    raise MQTTError("unexpected packet type 0x%02x" % first)
        except (OSError, MQTTError):
            self.abort()

    async def _on_publish(self, first, length):
        qos = (first >> 1) & 3
        if length > len(self._rx):
            # Too big for the node: read it through the buffer, acknowledge it so the broker does not
            # send it again for ever, and count it.
            head = len(self._rx)
            await self._read_into(head)
            await self._discard(length - head)
            self.oversize += 1
            topic_len = self._rx[0] << 8 | self._rx[1]
            if qos and topic_len + 4 <= head:
                await self._puback(self._rx[2 + topic_len:4 + topic_len])
            return
        await self._read_into(length)
        rx = self._rx
        topic_len = rx[0] << 8 | rx[1]
        start = 2 + topic_len
        pid = None
        if qos:
            pid = bytes(rx[start:start + 2])
            start += 2
        topic = bytes(rx[2:2 + topic_len])
        payload = bytes(rx[start:length])
        if self.on_message is not None:
            self.on_message(topic, payload)
        if qos == 1:
            await self._puback(pid)

    async def _puback(self, pid):
        self._pid_buf[0] = pid[0]
        self._pid_buf[1] = pid[1]
        await self._write_packet(_PUBACK, self._pid_buf, None, None)

    async def _keepalive_loop(self):
        period_ms = self.keepalive * 1000
        try:
            while True:
                await asyncio.sleep_ms(period_ms // 4 if period_ms >= 4000 else 1000)
                now = time.ticks_ms()
                if time.ticks_diff(now, self._last_rx) > period_ms * 3 // 2:
                    # Nothing heard for 1.5 keepalive periods: the broker (or the path) is gone.
                    self.abort()
                    return
                if time.ticks_diff(now, self._last_tx) >= period_ms // 2:
                    await self._write_packet(_PINGREQ, b"", None, None)
        except MQTTDisconnected:
            pass
