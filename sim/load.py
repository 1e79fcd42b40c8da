"""Load generator: N virtual CPython nodes publishing contract-valid traffic to a broker, paced to a rate.

Each node publishes a birth (a fresh boot counter, `seq` = its next data sequence number), then data
messages with dense sequence numbers, QoS 1. Nodes share a few MQTT connections (a Python process cannot
hold thousands of sockets busy at this rate); topics and payloads are exactly those of real nodes. Node ids
are 12 hex digits with the matching MAC in `hw`, as the gateway checks.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import cbor2
import paho.mqtt.client as mqtt

from gateway.errors import InvalidInput, Timeout, Unavailable
from protocols import messages, senml, topics

PERIOD_S = 60


@dataclass
class LoadResult:
    sent: int
    births: int
    data: int
    acked: int
    nodes: int
    duration_s: float

    def as_json(self) -> dict:
        return {
            "sent": self.sent,
            "births": self.births,
            "data": self.data,
            "acked": self.acked,
            "nodes": self.nodes,
            "duration_s": round(self.duration_s, 3),
        }


def node_id(prefix: int, index: int) -> str:
    return "%04x%08x" % (prefix & 0xFFFF, index)


def birth_payload(node: str, boot: int, now: float) -> bytes:
    hw = {"chip": "esp32", "mac": ":".join(node[i : i + 2] for i in range(0, 12, 2))}
    return cbor2.dumps(
        messages.birth(
            boot,
            0,
            int(now),
            "sensor",
            "esp32-devkitc-sensor",
            hw,
            "load-1",
            [["temp", "Cel", PERIOD_S], ["hum", "%RH", PERIOD_S]],
            b"\0" * 8,
            "power-on",
            False,
            0,
            0,
        )
    )


def data_payload(boot: int, seq: int, now: float) -> bytes:
    pack = [
        senml.record("temp", senml.quantise("temp", 15 + (seq % 100) / 10), "Cel"),
        senml.record("hum", senml.quantise("hum", 40.0), "%RH"),
    ]
    return cbor2.dumps(messages.data(boot, seq, int(now), pack))


def parse_broker(url: str) -> tuple[str, int]:
    if not url.startswith("mqtt://"):
        raise InvalidInput("broker must be mqtt://HOST:PORT, got %r" % url)
    host, _, port = url[len("mqtt://") :].rstrip("/").partition(":")
    if not host or (port and not port.isdigit()):
        raise InvalidInput("broker must be mqtt://HOST:PORT, got %r" % url)
    return host, int(port or 1883)


class _Connection:
    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.acked = 0
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.on_publish = self._on_publish
        try:
            self.client.connect(host, port, keepalive=30)
        except OSError as exc:
            raise Unavailable("cannot reach the broker %s:%d: %s" % (host, port, exc)) from exc
        self.client.loop_start()

    def _on_publish(self, *_) -> None:
        with self._lock:
            self.acked += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run(
    broker: str,
    nodes: int,
    rate: float,
    duration_s: float,
    site: str = "load",
    connections: int = 4,
    boot: int | None = None,
    drain_timeout_s: float = 30.0,
) -> LoadResult:
    """Publish `rate * duration_s` data messages over `nodes` nodes (plus one birth each); wait for PUBACKs."""
    if nodes < 1 or rate <= 0 or duration_s <= 0:
        raise InvalidInput("nodes, rate and duration must be positive")
    topics.check_part("site", site)
    host, port = parse_broker(broker)
    boot = int(time.time()) if boot is None else boot  # a new boot per run: a gateway accepts it as a reboot
    run_tag = int(time.time() * 1000)
    links = [_Connection(host, port, "rvb-load-%x-%d" % (run_tag, i)) for i in range(min(connections, nodes))]
    ids = [node_id(run_tag >> 4, i) for i in range(nodes)]
    births = data = 0
    try:
        for index, node in enumerate(ids):
            links[index % len(links)].client.publish(
                topics.build(site, node, "birth"), birth_payload(node, boot, time.time()), qos=1
            )
            births += 1
        total = round(rate * duration_s)
        started = time.monotonic()
        for i in range(total):
            ahead = started + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            index = i % nodes
            links[index % len(links)].client.publish(
                topics.build(site, ids[index], "data"), data_payload(boot, i // nodes, time.time()), qos=1
            )
            data += 1
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + drain_timeout_s
        while sum(link.acked for link in links) < births + data:
            if time.monotonic() > deadline:
                raise Timeout(
                    "the broker acknowledged %d of %d messages within %g s"
                    % (sum(link.acked for link in links), births + data, drain_timeout_s)
                )
            time.sleep(0.01)
    finally:
        for link in links:
            link.close()
    return LoadResult(births + data, births, data, sum(link.acked for link in links), nodes, elapsed)
