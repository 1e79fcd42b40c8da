"""An MQTT observer of a fleet's site, independent of the gateway: it keeps, per board and boot, the data
sequence numbers seen (dense per boot, so the highest tells how many readings the board produced),
the board's role and its peak heap from status messages, and when each birth (one per connection of a
board) arrived.

Its session outlives a broker restart or its own reconnection (MQTT 5, clean start off, session expiry),
so the broker queues what is published while it is away and nothing escapes the books.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import cbor2
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from protocols import messages, topics

SESSION_EXPIRY_S = 600


@dataclass
class BoardView:
    role: str = ""
    data_seqs: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    heap_peak: int = 0
    last_status: dict = field(default_factory=dict)
    births: list[float] = field(default_factory=list)  # wall-clock arrival of each birth
    last_data: float = 0.0                              # wall-clock arrival of the latest data message


def _session(expiry_s: int, packet: int) -> Properties:
    props = Properties(packet)
    props.SessionExpiryInterval = expiry_s
    return props


class SequenceObserver:
    def __init__(self, host: str, port: int, site: str) -> None:
        self.boards: dict[str, BoardView] = defaultdict(BoardView)
        self.undecodable = 0
        self._lock = threading.Lock()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="rvb-observer-%s" % site,
                                   protocol=mqtt.MQTTv5)
        self._client.on_message = self._on_message
        self._client.on_connect = lambda c, *_: c.subscribe("%s/%s/+/+" % (topics.PREFIX, site), qos=1)
        self._client.reconnect_delay_set(0.1, 1)
        self._client.connect(host, port, clean_start=False,
                             properties=_session(SESSION_EXPIRY_S, PacketTypes.CONNECT))
        self._client.loop_start()

    def _on_message(self, _client, _userdata, message) -> None:
        try:
            _site, node, channel = topics.parse(message.topic)
            payload = cbor2.loads(message.payload)
        except (ValueError, cbor2.CBORDecodeError):
            self.undecodable += 1
            return
        if not isinstance(payload, dict):
            return
        with self._lock:
            view = self.boards[node]
            if channel == "birth":
                view.role = payload.get(messages.ROLE, view.role)
                view.births.append(time.time())
            elif channel == "data":
                view.data_seqs[payload[messages.BOOT]].add(payload[messages.SEQ])
                view.last_data = time.time()
            elif channel == "status":
                view.last_status = payload
                view.heap_peak = max(view.heap_peak, payload.get(messages.HEAP_ALLOC, 0))

    def produced(self) -> int:
        with self._lock:
            return sum(max(seqs) + 1 for view in self.boards.values() for seqs in view.data_seqs.values() if seqs)

    def close(self) -> None:
        # Expire the session now: nothing should queue for an observer that is gone.
        self._client.disconnect(properties=_session(0, PacketTypes.DISCONNECT))
        self._client.loop_stop()
