"""Ingest: uplinks from the broker to the inventory and the durable outbox.

`IngestCore` is the decision part and does no network I/O: `handle()` decodes, checks, deduplicates and runs
the lifecycle for one message, staging rows; `commit()` writes the staged rows in one transaction and returns
the rebirth commands to send. `MqttIngest` is the shell: it reads the broker with paho-mqtt (MQTT 5, QoS 1,
manual acknowledgement; `IngestClient` frames plain PUBLISHes itself, paho's generic read path being the
largest cost per message), hands messages to the core, and sends the PUBACKs only after the commit, so a
message the broker considers delivered is always on disk.

Identity: an MQTT PUBLISH reaches subscribers without the publisher's username, so "a node publishes only
under its own id" is enforced by the broker ACL (per-device credentials, `pattern` rules on %u). The gateway
checks what it can see: a birth whose MAC names another node than its topic ("node-id-mismatch"), and a birth
whose MAC differs from the one the inventory holds for that node ("hw-mismatch"), are rejected and counted.
"""

from __future__ import annotations

import logging
import select
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import cbor2
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK, MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway import lifecycle, lifi_coverage
from gateway.config import GatewayConfig
from gateway.counters import Counters
from gateway.inventory import records
from gateway.inventory.store import Batch, Store, StoreError
from gateway.logs import log
from protocols import messages, senml, topics

logger = logging.getLogger("gateway.ingest")

BOOTS_KEPT = 4  # dedup windows kept per (node, channel): replays from a few boots back stay deduplicated
DEVICE_FLUSH_S = 5.0  # routine device statistics (last seen, counts) are written at most this often
MAX_CBOR_DEPTH = 16
_HEX = "0123456789abcdef"


class Rejected(ValueError):
    """A message refused by ingest; `reason` is the counter label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RebirthRequest:
    topic: str
    payload: bytes
    node_id: str
    reason: str


@dataclass(slots=True)
class _Entry:
    """What ingest keeps in memory about one device."""

    row: dict
    life: lifecycle.Life
    context: dict  # the device part of each observation
    windows: dict = field(default_factory=dict)  # (channel, boot) -> SeqWindow
    dirty_windows: set = field(default_factory=set)
    dirty: bool = False  # statistics changed: written within DEVICE_FLUSH_S
    urgent: bool = False  # lifecycle or description changed: written with this batch
    unsynced_at: float = 0.0  # reception time given to this device's last unsynced reading


def _life_from_row(row: dict, default_period: float) -> lifecycle.Life:
    return lifecycle.Life(
        boot=row["boot"],
        born=bool(row["born"]),
        next_seq=row["next_seq"],
        buffered=row["buffered"] or 0,
        dropped=row["dropped"] or 0,
        period=row["period"] or default_period,
        last_seen=row["last_seen"],
        liveness=row["liveness"],
        last_rebirth=row["last_rebirth"],
        reset=row["reset_cause"],
        gaps=row["gaps"] or 0,
    )


def _life_to_row(life: lifecycle.Life, row: dict) -> None:
    row.update(
        boot=life.boot,
        born=int(life.born),
        next_seq=life.next_seq,
        buffered=life.buffered,
        dropped=life.dropped,
        period=life.period,
        last_seen=life.last_seen,
        liveness=life.liveness,
        last_rebirth=life.last_rebirth,
        reset_cause=life.reset,
        gaps=life.gaps,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return repr(value)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()


_NUV, _NV = {0, 1, 2}, {0, 2}


def resolve_pack(pack: list, base_time: float) -> list[dict]:
    """senml.resolve, with a fast path for the plain records nodes send ({n, u, v} or {n, v}, no base
    fields, no record time), which after contract validation resolve to themselves at `base_time`."""
    readings = []
    for record in pack:
        labels = record.keys()
        if labels == _NUV:
            readings.append({"n": record[0], "u": record[1], "v": record[2], "t": base_time})
        elif labels == _NV:
            readings.append({"n": record[0], "v": record[2], "t": base_time})
        else:
            return senml.resolve(pack, base_time)
    return readings


def _mac_id(hw: dict) -> str | None:
    """The node id a MAC address implies (12 lowercase hex digits), or None when hw gives none."""
    mac = hw.get("mac") if isinstance(hw, dict) else None
    if not isinstance(mac, str):
        return None
    digits = mac.lower().replace(":", "").replace("-", "")
    return digits if len(digits) == 12 and all(ch in _HEX for ch in digits) else None


def _coverage_items(items: list[dict] | None, fact: lifi_coverage.CoverageFact) -> list[dict]:
    """A row's `lifi` list with `fact` merged in, its item carrying the beacon counter: what
    `IngestCore.restore_coverage` needs after a restart."""
    merged = lifi_coverage.merge_items(items, fact)
    merged[-1]["counter"] = fact.last_counter  # merge_items appends the fact's item last
    return merged


def _networks(role: str | None) -> list[str]:
    return ["wifi", "mqtt", "lifi"] if role in ("luminaire", "lifi-rx") else ["wifi", "mqtt"]


class IngestCore:
    def __init__(self, store: Store, counters: Counters, config: GatewayConfig) -> None:
        self.store = store
        self.counters = counters
        self.config = config
        self.policy = lifecycle.Policy(
            rebirth_on_gap=config.do_rebirth_on_gap,
            track_gaps=config.share is None or bool(config.rebirth_on_gap),
            rebirth_interval_s=config.rebirth_interval_s,
            stale_after_periods=config.stale_after_periods,
            offline_after_periods=config.offline_after_periods,
        )
        self.devices: dict[str, _Entry] = {}
        key = config.lifi_master_key
        self.coverage = lifi_coverage.LifiCoverage(bytes.fromhex(key)) if key else None
        # Devices to look at when committing: touched since the last commit, or statistics not yet written.
        self._changed: set[str] = set()
        self._waiting: set[str] = set()
        self._next_flush = 0.0
        self._admin_changes: deque[dict] = deque()
        store.add_admin_listener(self._admin_changes.append)
        self._reset_stage()
        self._preloaded = False

    def preload(self) -> int:
        """Load every device of the inventory into memory, so a message from a node never seen before costs
        no query. Only for a gateway that is the one writer of its database; returns the device count."""
        for row, windows in self.store.load_all_devices():
            self._cache(row, windows)
        self._preloaded = True
        return len(self.devices)

    def _reset_stage(self) -> None:
        self.batch = Batch()
        self._rebirths: list[RebirthRequest] = []
        self._tally: dict[tuple[str, str], int] = {}

    def _count(self, name: str, label: str = "") -> None:
        key = (name, label)
        self._tally[key] = self._tally.get(key, 0) + 1

    # -- one message -----------------------------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes, now: float) -> str:
        """Stage one message; return its outcome: "ok", "duplicate", "ignored" or the rejection reason."""
        if self._admin_changes:
            self._apply_admin_changes()
        try:
            return self._handle(topic, payload, now)
        except Rejected as exc:
            self._count("messages_rejected_total", exc.reason)
            if logger.isEnabledFor(logging.DEBUG):
                log(logger, "rejected", logging.DEBUG, topic=topic, reason=exc.reason, detail=str(exc))
            return exc.reason

    def _handle(self, topic: str, payload: bytes, now: float) -> str:
        parts = topic.split("/")
        if len(parts) != 5 or parts[0] != "rvb" or parts[1] != "v1":
            raise Rejected("topic", "not a contract topic")
        _, _, site, node, channel = parts
        if channel in topics.DOWNLINK:
            self._count("messages_ignored_total", "downlink")
            return "ignored"
        if channel not in topics.UPLINK:
            raise Rejected("topic", "unknown channel %r" % channel)
        entry = self.devices.get(node)
        if entry is None:
            try:
                topics.check_part("site", site)
                topics.check_part("node id", node)
            except ValueError as exc:
                raise Rejected("topic", str(exc)) from None
        if len(payload) > self.config.max_payload_bytes:
            raise Rejected("too-large", "%d bytes" % len(payload))
        try:
            message = cbor2.loads(payload, max_depth=MAX_CBOR_DEPTH, allow_duplicate_keys=False)
        except Exception as exc:  # cbor2 raises several types on hostile input; all mean "not CBOR we accept"
            raise Rejected("cbor", "%s: %s" % (type(exc).__name__, exc)) from None
        if not isinstance(message, dict):
            raise Rejected("not-a-map", type(message).__name__)
        try:
            if channel == "data":
                messages.validate_data(message)
            else:
                messages.validate(channel, message)
        except messages.MessageError as exc:
            raise Rejected(exc.reason, str(exc)) from None
        if entry is None:
            entry = self._entry(node, site, now)
        self._changed.add(node)
        if entry.row["state"] == "retired":
            raise Rejected("retired-device", node)
        if channel == "data":
            outcome = self._data(entry, node, message, now)
        elif channel == "birth":
            outcome = self._birth(entry, node, site, message, now)
        elif channel == "death":
            outcome = self._events(entry, lifecycle.on_death(entry.life, message[1], now), now, urgent=True)
        else:
            outcome = self._other(entry, channel, message, now)
        if outcome == "ok":
            self._count("messages_ingested_total")
            entry.dirty = True
            entry.row["topic_site"] = site
        return outcome

    def _entry(self, node: str, site: str, now: float) -> _Entry:
        row, windows = (None, []) if self._preloaded else self.store.load_device(node)
        if row is not None:
            return self._cache(row, windows)
        row = records.new_row(node, site, "active" if self.config.auto_approve else "pending", now)
        row["first_seen"] = now
        entry = self._cache(row, [])
        entry.urgent = True
        self._history(node, now, "registered", {"state": row["state"], "site": site})
        return entry

    def _cache(self, row: dict, windows: list) -> _Entry:
        entry = _Entry(
            row=row,
            life=_life_from_row(row, self.config.default_period_s),
            context=records.device_context(row),
        )
        for channel, boot, spans in windows:
            entry.windows[(channel, boot)] = lifecycle.SeqWindow(spans)
        window = entry.windows.get(("data", entry.life.boot))
        if window is not None and window.top() is not None and entry.life.next_seq is not None:
            # Statistics are written lazily; the dedup window is exact, so trust it after a restart.
            entry.life.next_seq = max(entry.life.next_seq, window.top())
        self.devices[row["id"]] = entry
        return entry

    def _window(self, entry: _Entry, channel: str, boot: int) -> lifecycle.SeqWindow | None:
        key = (channel, boot)
        window = entry.windows.get(key)
        if window is None:
            boots = sorted(b for c, b in entry.windows if c == channel)
            if len(boots) >= BOOTS_KEPT and boot < boots[0]:
                return None  # older than every boot still remembered: cannot tell a replay from new
            window = entry.windows[key] = lifecycle.SeqWindow()
            if len(boots) >= BOOTS_KEPT:
                keep_from = sorted(boots + [boot])[-BOOTS_KEPT]
                for old in boots:
                    if old < keep_from:
                        del entry.windows[(channel, old)]
                        entry.dirty_windows.discard((channel, old))
                self.batch.dedup_keep_from.append((entry.row["id"], channel, keep_from))
        entry.dirty_windows.add(key)
        return window

    def _is_new(self, entry: _Entry, channel: str, message: dict) -> bool:
        window = self._window(entry, channel, message[1])
        if window is None:
            raise Rejected("stale-boot", "boot %d is older than the boots remembered" % message[1])
        if window.add(message[2]):
            return True
        self._count("duplicates_total")
        entry.row["duplicates"] += 1
        entry.dirty = True
        return False

    def _data(self, entry: _Entry, node: str, message: dict, now: float) -> str:
        when = message[3]
        synced = not isinstance(when, list)
        if not synced:
            # Unsynced readings are placed at reception time ("time" stays null so the platform can tell).
            # The platform tells a device's readings apart by time, and a replayed backlog arrives in one
            # read: each unsynced reading of a device gets a millisecond of its own.
            entry.unsynced_at = max(now, entry.unsynced_at + 0.001)
        try:
            readings = resolve_pack(message[4], when if synced else entry.unsynced_at)
        except ValueError as exc:
            raise Rejected("senml", str(exc)) from None
        if not self._is_new(entry, "data", message):
            return "duplicate"
        boot, seq = message[1], message[2]
        row = entry.row
        row["received"] += 1
        events = lifecycle.on_data(entry.life, boot, seq, now, self.policy)
        if events:
            self._events(entry, events, now, urgent=False)
        # Every key is a string here, so orjson needs no OPT_NON_STR_KEYS (which costs on each dict).
        observation = orjson.dumps(
            {
                "node_id": node,
                "site": row["site"],
                "role": row["role"],
                "board": row["board"],
                "boot": boot,
                "seq": seq,
                "time": when if synced else None,
                "received": now,
                "records": readings,
                "device": entry.context,
            },
            default=_json_default,
        ).decode()
        if row["state"] == "active":
            self.batch.outbox.append(("observation", node, observation, now))
        else:
            self.batch.held.append(("observation", node, observation, now))
            self._count("messages_held_total")
        return "ok"

    def _birth(self, entry: _Entry, node: str, site: str, message: dict, now: float) -> str:
        hw = message.get(12, {})
        claimed = _mac_id(hw)
        if claimed is not None and len(node) == 12 and all(ch in _HEX for ch in node) and claimed != node:
            raise Rejected("node-id-mismatch", "birth on %s declares MAC of %s" % (node, claimed))
        known = _mac_id(entry.row["hw"] or {})
        if known is not None and claimed is not None and known != claimed:
            raise Rejected("hw-mismatch", "%s was %s, birth declares %s" % (node, known, claimed))
        row = entry.row
        row.update(
            role=message[10],
            board=message[11],
            hw=hw,
            fw=message[13],
            caps=message[14],
            cfg=bytes(message[15]).hex() if 15 in message else row["cfg"],
            safe=int(bool(message.get(17, False))),
            networks=_networks(message[10]),
        )
        periods = [cap[2] for cap in message[14] if len(cap) > 2 and cap[2]]
        if periods:
            entry.life.period = float(min(periods))
        row["health"] = dict(row["health"], reset=message.get(16))
        events = lifecycle.on_birth(
            entry.life,
            message[1],
            message[2],
            message.get(16),
            message.get(25, 0),
            message.get(24, entry.life.dropped),
            now,
        )
        return self._events(entry, events, now, urgent=True)

    def _other(self, entry: _Entry, channel: str, message: dict, now: float) -> str:
        if not self._is_new(entry, channel, message):
            return "duplicate"
        row = entry.row
        if channel == "status":
            health = dict(row["health"])
            for key, name in (
                (20, "uptime"),
                (21, "heap_free"),
                (22, "heap_alloc"),
                (23, "rssi"),
                (26, "faults"),
                (28, "ext"),
            ):
                if key in message:
                    health[name] = message[key]
            row["health"] = health
            events = lifecycle.on_status(entry.life, message.get(25), message.get(24), message.get(27), now)
            return self._events(entry, events, now, urgent=True)  # health is not among the statistics
        if channel == "evt":
            kind, detail = message[30], message.get(31)
            self._history(row["id"], now, "evt:" + kind, detail)
            if kind == "lifi-beacon" and self.coverage is not None:
                self._lifi_beacon(entry, detail, now)
        else:
            self._history(
                row["id"], now, "ack", {"id": message[40], "result": message[43], "detail": message.get(44)}
            )
        return self._events(entry, lifecycle.on_seen(entry.life, now), now, urgent=False)

    def _lifi_beacon(self, entry: _Entry, detail: Any, now: float) -> None:
        """Verify a beacon a receiver decoded and record the coverage on the receiver's row and, when the
        lamp is in memory, on the luminaire's (lamps are named by node id or MAC)."""
        try:
            fact = self.coverage.observe(entry.row["id"], detail, now)
        except lifi_coverage.BeaconRejected as exc:
            self._count("lifi_beacons_rejected_total", exc.reason)
            return
        entry.row["lifi"] = _coverage_items(entry.row["lifi"], fact)
        entry.urgent = True
        for lamp in self.devices.values():
            if fact.lamp in (lamp.row["id"], _mac_id(lamp.row["hw"] or {})):
                lamp.row["lifi"] = _coverage_items(lamp.row["lifi"], fact)
                lamp.urgent = True  # `lifi` is not among the statistics a routine flush writes
                self._changed.add(lamp.row["id"])
                break

    def restore_coverage(self) -> int:
        """At start: the beacon replay windows from the coverage the inventory kept, so a beacon accepted
        before a restart is still refused as a replay. Returns how many lamps were restored."""
        if self.coverage is None:
            return 0
        lamps = set()
        rows = (
            [entry.row for entry in self.devices.values()] if self._preloaded else self.store.list_devices()
        )
        for row in rows:
            for item in row["lifi"] or []:
                # The receiver's row and the lamp's hold the same item: restoring it twice is harmless.
                counter = item.get("counter")
                if type(counter) is not int:
                    continue  # written before items carried the counter
                try:
                    self.coverage.restore_fact(item, counter)
                except (KeyError, TypeError, ValueError):  # not an item ingest wrote
                    log(logger, "lifi-restore-skipped", logging.WARNING, node=row["id"])
                    continue
                lamps.add(item["lamp"])
        return len(lamps)

    def _events(self, entry: _Entry, events: list, now: float, urgent: bool) -> str:
        node = entry.row["id"]
        for event, detail in events:
            self._history(node, now, event, detail)
            if event == "rebirth-requested":
                self._rebirth(entry, detail["reason"])
            urgent = True
        if urgent:
            entry.urgent = True
            if entry.row["state"] == "active" and any(
                e
                in (
                    "first-birth",
                    "reboot",
                    "crash-reboot",
                    "rebirth",
                    "boot-counter-reset",
                    "death",
                    "liveness",
                )
                for e, _ in events
            ):
                self._device_envelope(entry, now)
        return "ok"

    def _device_envelope(self, entry: _Entry, now: float) -> None:
        _life_to_row(entry.life, entry.row)
        self.batch.outbox.append(("device", entry.row["id"], _dumps(records.to_json(entry.row)), now))

    def _history(self, node: str, now: float, event: str, detail: Any) -> None:
        self.batch.history.append((node, now, event, _dumps(detail)))

    def _rebirth(self, entry: _Entry, reason: str) -> None:
        command_id = int(time.time() * 1000) & 0xFFFFFFFF
        site = entry.row["topic_site"]
        self._rebirths.append(
            RebirthRequest(
                topics.build(site, entry.row["id"], "cmd"),
                cbor2.dumps({40: command_id, 41: "rebirth"}),
                entry.row["id"],
                reason,
            )
        )
        self._count("rebirth_requests_total", reason)

    # -- periodic and batch -----------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Re-evaluate liveness of every known device (silence makes a node stale, then offline)."""
        for node, entry in self.devices.items():
            events = lifecycle.tick(entry.life, now, self.policy)
            if events:
                self._events(entry, events, now, urgent=True)
                self._changed.add(node)

    def _apply_admin_changes(self) -> None:
        while self._admin_changes:
            row = self._admin_changes.popleft()
            entry = self.devices.get(row["id"])
            if entry is None:
                if self._preloaded:  # a device created by an import: the cache must know it
                    self._cache(row, self.store.load_device(row["id"])[1])
                continue
            for column in records.ADMIN_COLUMNS + ("hw",):  # the operator may forget a swapped board
                entry.row[column] = row[column]
            entry.context = records.device_context(entry.row)

    def commit(self, now: float) -> list[RebirthRequest]:
        """Write what was staged in one transaction; return the rebirth commands to publish.

        On a database error nothing staged is kept and the in-memory state is dropped (it is reloaded from
        the database), so the caller must not acknowledge the messages: the broker will deliver them again.
        """
        self._apply_admin_changes()
        batch = self.batch
        candidates, self._changed = self._changed, set()
        if now >= self._next_flush:
            candidates |= self._waiting
            self._waiting = set()
            self._next_flush = now + DEVICE_FLUSH_S
            flush_all = True
        else:
            flush_all = False
        for node in candidates:
            entry = self.devices[node]
            if entry.urgent:
                _life_to_row(entry.life, entry.row)
                batch.devices.append(entry.row)
                entry.urgent = entry.dirty = False
            elif entry.dirty and flush_all:
                _life_to_row(entry.life, entry.row)
                batch.device_stats.append(entry.row)
                entry.dirty = False
            elif entry.dirty:
                self._waiting.add(node)
            for key in entry.dirty_windows:
                spans = orjson.dumps(entry.windows[key].intervals).decode()
                batch.dedup.append((node, key[0], key[1], spans))
            entry.dirty_windows.clear()
        try:
            dropped = (
                self.store.commit_batch(batch, self.config.outbox_max_bytes, self.config.held_per_device)
                if batch
                else {}
            )
        except StoreError:
            self.devices.clear()
            self._preloaded = False  # the cache is gone: read each device back from the database
            self._waiting.clear()
            self._reset_stage()
            raise
        tally, rebirths = self._tally, self._rebirths
        self._reset_stage()
        for (name, label), amount in tally.items():
            if label:
                self.counters.inc(name, amount, reason=label)
            else:
                self.counters.inc(name, amount)
        for reason, amount in dropped.items():
            self.counters.inc("dropped_total", amount, reason=reason)
            log(logger, "dropped", logging.WARNING, reason=reason, count=amount)
        if batch:
            self.counters.inc("ingest_batches_total")
        return rebirths

    def due(self, now: float) -> bool:
        """Whether a commit is due even without new messages: events staged by `tick()` (a node gone
        stale or offline), or statistics waiting longer than DEVICE_FLUSH_S since traffic stopped."""
        return bool(self.batch or self._changed or (self._waiting and now >= self._next_flush))

    def close(self, now: float) -> None:
        """Write every device's latest statistics (at shutdown)."""
        for node, entry in self.devices.items():
            if entry.dirty:
                entry.urgent = True
                self._changed.add(node)
        self.commit(now)


_PUBACK = struct.Struct("!BBH")
_PUBLISH_QOS1 = 0x32  # PUBLISH, QoS 1, no DUP, no RETAIN: what the broker relays from nodes
READ_CHUNK = 65536
READS_PER_LOOP = 8  # socket reads per loop_read call: at most 512 KiB taken in at once


class IngestClient(mqtt.Client):
    """paho-mqtt's client with a cheaper read path for the one thing ingest does at volume (paho 2.x
    internals: `_packet_read`, `_in_packet`, `_packet_handle`, `_packet_queue`).

    Per message, paho's generic path costs more than all of ingest's own checks: three `recv` system calls
    (it reads the fixed header a byte at a time), a `Properties` object for MQTT 5 even when the packet has
    none, topic-filter dispatch, and one `send` per PUBACK. Here:
    - the socket is read `READ_CHUNK` bytes at a time and every complete packet in it is framed here;
    - a QoS-1 PUBLISH without properties (a node's message as the broker relays it) is decoded here and
      handed to `sink(topic, payload, mid, qos)`; every other packet (CONNACK, SUBACK, PINGRESP, a PUBLISH
      with properties or flags...) is handed to paho's own `_packet_handle`, which calls `on_message` etc.;
    - `ack_many` sends the PUBACKs of a whole batch in one write.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sink: Any = None
        self._partial = b""  # the start of a packet whose end has not arrived yet
        self._partial_socket: Any = None

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read until the socket has nothing more, at most READS_PER_LOOP times (every packet of each read
        is handled). paho's own `loop_read` repeats its read as many times as messages are in flight,
        which with whole-chunk reads let one call take in an unbounded number of messages."""
        if self._sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        for _ in range(READS_PER_LOOP):
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                break
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _packet_read(self) -> MQTTErrorCode:
        if self.sink is None or self._in_packet["command"] or self._protocol != mqtt.MQTTv5:
            return super()._packet_read()  # not set up, a packet paho's own reader started, or no MQTT 5
        try:
            data = self._sock_recv(READ_CHUNK)
        except BlockingIOError:
            return MQTTErrorCode.MQTT_ERR_AGAIN
        except OSError as exc:
            log(logger, "broker-read-failed", logging.WARNING, error=str(exc))
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if not data:
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if self._partial and self._partial_socket is self._sock:
            data = self._partial + data
        self._partial, self._partial_socket = b"", self._sock
        with self._msgtime_mutex:
            self._last_bytes_received = time.monotonic()
        return self._frame(data)

    def _frame(self, data: bytes) -> MQTTErrorCode:
        """Handle every complete packet of `data`; keep an incomplete tail for the next read."""
        sink = self.sink
        size = len(data)
        at = 0
        while at + 2 <= size:
            command = data[at]
            length = shift = 0
            cursor = at + 1
            while True:  # remaining length: a 1-4 byte varint
                if cursor >= size:
                    self._partial = data[at:]
                    return MQTTErrorCode.MQTT_ERR_SUCCESS
                byte = data[cursor]
                cursor += 1
                length |= (byte & 127) << shift
                if not byte & 128:
                    break
                shift += 7
                if shift > 21:
                    return MQTTErrorCode.MQTT_ERR_PROTOCOL
            end = cursor + length
            if end > size:
                break
            if command == _PUBLISH_QOS1 and length >= 5:
                topic_end = cursor + 2 + (data[cursor] << 8 | data[cursor + 1])
                if topic_end + 3 <= end and data[topic_end + 2] == 0:  # no properties
                    # Topics are UTF-8 (the broker checks); "replace" keeps a bad one a string ingest rejects.
                    sink(
                        data[cursor + 2 : topic_end].decode("utf-8", "replace"),
                        data[topic_end + 3 : end],
                        data[topic_end] << 8 | data[topic_end + 1],
                        1,
                    )
                    at = end
                    continue
            self._in_packet = {
                "command": command,
                "have_remaining": 1,
                "remaining_count": [],
                "remaining_mult": 1,
                "remaining_length": length,
                "packet": data[cursor:end],
                "to_process": 0,
                "pos": 0,
            }
            try:
                rc = self._packet_handle()
            except MalformedPacket as exc:
                log(logger, "broker-malformed-packet", logging.WARNING, error=str(exc))
                rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
            self._in_packet = {
                "command": 0,
                "have_remaining": 0,
                "remaining_count": [],
                "remaining_mult": 1,
                "remaining_length": 0,
                "packet": bytearray(b""),
                "to_process": 0,
                "pos": 0,
            }
            at = end
            if rc:
                self._partial = data[at:]
                return rc
        self._partial = data[at:]
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, mids: list[int]) -> None:
        """PUBACK every message id of `mids` in one write (manual acknowledgement mode)."""
        if mids:
            packet = b"".join([_PUBACK.pack(PUBACK, 2, mid) for mid in mids])
            self._packet_queue(PUBACK, packet, 0, 0)


class MqttIngest:
    """The broker side of ingest: one paho-mqtt client, driven from the calling thread.

    Reading, committing and acknowledging happen in one thread: the work is bound by the interpreter, so a
    second thread would only add switching; the broker keeps sending meanwhile, up to `receive_maximum`
    unacknowledged messages, which also bounds what can be waiting here.
    """

    def __init__(self, core: IngestCore, config: GatewayConfig, on_commit: Any = None) -> None:
        self.core = core
        self.config = config
        self.on_commit = on_commit  # called after each commit (wakes the forwarder loops)
        self._pending: list[tuple[str, bytes, int, int, float, int]] = []
        # Message ids belong to one connection: a message received before a reconnect is committed but not
        # acknowledged on the new connection (the broker sends it again; dedup drops the copy).
        self._generation = 0
        self._connected = threading.Event()
        self._subscribed = threading.Event()  # the broker acknowledged our subscription (SUBACK)
        self.client = self._client()

    def _client(self) -> mqtt.Client:
        config = self.config
        client = IngestClient(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.sink = self._receive
        if config.username:
            client.username_pw_set(config.username, config.password)
        if config.broker.startswith("mqtts://"):
            client.tls_set(ca_certs=config.tls_ca)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = lambda *_: self._subscribed.set()
        return client

    def wait_subscribed(self, timeout: float) -> bool:
        """Whether the broker acknowledged the subscription within `timeout` seconds: from then on, every
        uplink published reaches this gateway (or waits for it in its broker session)."""
        return self._subscribed.wait(timeout)

    def filters(self) -> list[str]:
        prefix = "$share/%s/" % self.config.share if self.config.share else ""
        return ["%s%s/%s/+/+" % (prefix, topics.PREFIX, site) for site in self.config.sites]

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log(logger, "broker-refused", logging.ERROR, reason=str(reason))
            return
        client.subscribe([(f, SubscribeOptions(qos=1)) for f in self.filters()])
        self._connected.set()
        log(
            logger,
            "broker-connected",
            broker=self.config.broker,
            filters=self.filters(),
            session_present=bool(getattr(flags, "session_present", False)),
        )

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self._connected.clear()
        self._subscribed.clear()
        self._generation += 1
        log(logger, "broker-disconnected", logging.WARNING, reason=str(reason))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._receive(message.topic, message.payload, message.mid, message.qos)

    def _receive(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        self._pending.append((topic, payload, mid, qos, time.time(), self._generation))

    def connect(self) -> None:
        host, _, port = self.config.broker.split("://", 1)[1].partition(":")
        properties = Properties(PacketTypes.CONNECT)
        properties.ReceiveMaximum = self.config.receive_maximum
        # A persistent session: messages that arrive while the gateway is down, or that it received but did
        # not acknowledge, are delivered again when it reconnects.
        properties.SessionExpiryInterval = self.config.session_expiry_s
        self.client.connect(
            host, int(port.rstrip("/") or 1883), keepalive=30, clean_start=False, properties=properties
        )

    def flush(self) -> int:
        """Process and commit what was received, then acknowledge it; return how many messages."""
        pending, self._pending = self._pending, []
        if not pending and not self.core.due(time.time()):
            return 0
        core = self.core
        for topic, payload, _mid, _qos, received, _generation in pending:
            core.handle(topic, payload, received)
        rebirths = core.commit(time.time())
        # Only now is the batch on disk: acknowledge it, all in one write.
        generation_now = self._generation
        self.client.ack_many(
            [mid for _t, _p, mid, qos, _r, generation in pending if qos == 1 and generation == generation_now]
        )
        for request in rebirths:
            self.client.publish(request.topic, request.payload, qos=1)
            log(logger, "rebirth-requested", node=request.node_id, reason=request.reason)
        if self.on_commit:
            self.on_commit()
        return len(pending)

    def run(self, stop: threading.Event, tick_every: float = 1.0) -> None:
        """Read, batch, commit and acknowledge until `stop` is set; then finish the batch and disconnect."""
        client = self.client
        batch_wait = self.config.batch_wait_ms / 1000.0
        batch_max = self.config.batch_max
        retry_at = 0.0
        next_tick = time.time() + tick_every
        while not stop.is_set():
            sock = client.socket()
            now = time.time()
            if sock is None:
                if now >= retry_at:
                    retry_at = now + 2.0
                    try:
                        self.connect()
                    except OSError as exc:
                        log(logger, "broker-unreachable", logging.WARNING, error=str(exc))
                stop.wait(0.1)
                continue
            oldest = self._pending[0][4] if self._pending else None
            timeout = 0.1 if oldest is None else max(0.0, oldest + batch_wait - now)
            readable, _, _ = select.select([sock], [sock] if client.want_write() else [], [], timeout)
            if readable:
                # paho reads one packet per call; read what has arrived, up to a batch.
                for _ in range(batch_max):
                    before = len(self._pending)
                    if client.loop_read() != mqtt.MQTT_ERR_SUCCESS or len(self._pending) == before:
                        break
                    if len(self._pending) >= batch_max:
                        break
            if client.want_write():
                client.loop_write()
            client.loop_misc()
            now = time.time()
            if self._pending and (len(self._pending) >= batch_max or now - self._pending[0][4] >= batch_wait):
                self._flush_or_drop_connection()
            if now >= next_tick:
                next_tick = now + tick_every
                self.core.tick(now)
                if not self._pending and self.core.due(now):
                    self._flush_or_drop_connection()
        self._flush_or_drop_connection()
        if client.socket() is not None:
            client.disconnect()
            for _ in range(10):
                if client.loop(0.05) != mqtt.MQTT_ERR_SUCCESS:
                    break

    def _flush_or_drop_connection(self) -> None:
        try:
            self.flush()
        except StoreError as exc:
            # Nothing was acknowledged: leaving the session makes the broker deliver it all again later.
            log(logger, "store-failed", logging.ERROR, error=str(exc))
            self.client.disconnect()
