"""The API's own MQTT connection: live decoded traffic for `monitor`, and commands that wait for their ack.

It is separate from ingest's session (clean start, QoS 0 subscription, nothing queued while the API is
down): watching traffic must never slow ingest down or hold its acknowledgements.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import cbor2
import paho.mqtt.client as mqtt

from gateway.config import GatewayConfig
from gateway.counters import Counters
from gateway.errors import InvalidInput, Timeout, Unavailable
from protocols import messages, topics

# Contract keys -> names, so `monitor` shows `{"boot": 3, ...}` rather than `{"1": 3, ...}`.
KEY_NAMES = {
    1: "boot",
    2: "seq",
    3: "time",
    4: "pack",
    10: "role",
    11: "board",
    12: "hw",
    13: "fw",
    14: "caps",
    15: "cfg",
    16: "reset",
    17: "safe",
    20: "uptime",
    21: "heap_free",
    22: "heap_alloc",
    23: "rssi",
    24: "dropped",
    25: "buffered",
    26: "faults",
    27: "period",
    28: "ext",
    30: "kind",
    31: "detail",
    40: "id",
    41: "op",
    42: "args",
    43: "result",
    44: "detail",
    45: "url",
    46: "sha256",
    47: "size",
    48: "version",
}
SENML_NAMES = {
    -1: "bver",
    -2: "bn",
    -3: "bt",
    -4: "bu",
    -5: "bv",
    -6: "bs",
    0: "n",
    1: "u",
    2: "v",
    3: "vs",
    4: "vb",
    5: "s",
    6: "t",
    7: "ut",
    8: "vd",
}


def plain(value: Any, names: dict | None = None) -> Any:
    """A decoded CBOR value as JSON-ready data (bytes as hex, tags as their content)."""
    if isinstance(value, dict):
        return {
            (names.get(key, str(key)) if names else str(key)): plain(
                item, SENML_NAMES if key == 4 and names else None
            )
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [plain(item, names) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, cbor2.CBORTag):
        return plain(value.value)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def describe(topic: str, payload: bytes, at: float) -> dict:
    """One line of traffic for `monitor`; undecodable payloads are shown, not hidden."""
    event: dict[str, Any] = {"at": at, "topic": topic, "size": len(payload)}
    try:
        event["site"], event["node"], event["channel"] = topics.parse(topic)
    except ValueError as exc:
        event["error"] = "bad-topic: %s" % exc
        return event
    try:
        event["payload"] = plain(cbor2.loads(payload), KEY_NAMES)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is shown as such
        event["error"] = "bad-cbor: %s" % exc
    return event


def matches(event: dict, node_glob: str | None, channel: str | None) -> bool:
    if channel and event.get("channel") != channel:
        return False
    return not node_glob or fnmatch.fnmatchcase(event.get("node") or "", node_glob)


class TrafficTap:
    """Recent traffic in a ring (oldest dropped first), readers that follow it, and ack waiters."""

    def __init__(self, config: GatewayConfig, counters: Counters, ring_size: int = 2048) -> None:
        self.config = config
        self.counters = counters
        self._ring: deque[tuple[int, dict]] = deque(maxlen=ring_size)
        self._next = 0
        self._changed = threading.Condition()
        self._acks: dict[int, dict] = {}
        self._ack_events: dict[int, threading.Event] = {}
        self._acks_lock = threading.Lock()
        self._ids = itertools.count(random.randrange(1, 1 << 30))
        self._connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id="%s-api-%d" % (config.client_id, random.randrange(1 << 30)),
            protocol=mqtt.MQTTv5,
        )
        if config.username:
            self.client.username_pw_set(config.username, config.password)
        if config.broker.startswith("mqtts://"):
            self.client.tls_set(ca_certs=config.tls_ca)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_: self._connected.clear()
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> TrafficTap:
        host, _, port = self.config.broker.split("://", 1)[1].partition(":")
        self.client.connect_async(host, int(port.rstrip("/") or 1883), keepalive=30)
        self.client.loop_start()
        return self

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        with self._changed:
            self._changed.notify_all()

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            return
        client.subscribe([("%s/%s/+/+" % (topics.PREFIX, site), 0) for site in self.config.sites])

    def _on_subscribe(self, *_: Any) -> None:
        # Ready only once the broker granted the subscription: an ack must not arrive before it.
        self._connected.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        event = describe(message.topic, message.payload, time.time())
        if event.get("channel") == "ack" and isinstance(event.get("payload"), dict):
            self._settle(event)
        with self._changed:
            self._ring.append((self._next, event))
            self._next += 1
            self._changed.notify_all()

    def _settle(self, event: dict) -> None:
        cmd_id = event["payload"].get("id")
        if not isinstance(cmd_id, int):
            return  # a malformed ack answers nothing (ingest counts it as rejected)
        with self._acks_lock:
            waiter = self._ack_events.get(cmd_id)
            if waiter is None or self._acks[cmd_id]["node"] != event["node"]:
                return
            self._acks[cmd_id].update(
                result=event["payload"].get("result"),
                detail=event["payload"].get("detail"),
                acked_at=event["at"],
            )
        waiter.set()

    # -- monitor
    def follow(
        self, node_glob: str | None, channel: str | None, stop: threading.Event, heartbeat_s: float = 15.0
    ) -> Iterator[dict | None]:
        """Yield new matching events as they arrive (None every `heartbeat_s` idle, to probe the reader).

        A reader slower than the ring loses the oldest events it had not read; they are counted in
        `reverbere_dropped_total{reason="monitor-lagging"}`."""
        with self._changed:
            position = self._next
        while not stop.is_set():
            with self._changed:
                if position == self._next:
                    self._changed.wait(heartbeat_s)
                ready = [(n, event) for n, event in self._ring if n >= position]
                position_now = self._next
            if ready and ready[0][0] > position:
                self.counters.inc("dropped_total", ready[0][0] - position, reason="monitor-lagging")
            position = position_now
            if not ready:
                yield None
            for _, event in ready:
                if matches(event, node_glob, channel):
                    yield event

    # -- commands
    def command(self, site: str, node: str, op: str, args: dict | None, timeout_s: float) -> dict:
        """Publish a cmd to `node` and wait for its ack; return what the node answered."""
        if not self._connected.wait(min(timeout_s, 5.0)):
            raise Unavailable("the gateway API is not connected to the broker %s" % self.config.broker)
        cmd_id = next(self._ids) & 0xFFFFFFFF
        try:
            payload = cbor2.dumps(messages.cmd(cmd_id, op, args))
        except messages.MessageError as exc:
            raise InvalidInput("command %s: %s (%s)" % (op, exc, exc.reason)) from exc
        done = threading.Event()
        sent_at = time.time()
        with self._acks_lock:
            self._acks[cmd_id] = {"id": cmd_id, "node": node, "op": op, "sent_at": sent_at}
            self._ack_events[cmd_id] = done
        try:
            info = self.client.publish(topics.build(site, node, "cmd"), payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise Unavailable("cannot publish the command: %s" % mqtt.error_string(info.rc))
            if not done.wait(timeout_s):
                raise Timeout("no ack from %s for %s (cmd id %d) within %g s" % (node, op, cmd_id, timeout_s))
            with self._acks_lock:
                return dict(self._acks[cmd_id])
        finally:
            with self._acks_lock:
                self._acks.pop(cmd_id, None)
                self._ack_events.pop(cmd_id, None)
