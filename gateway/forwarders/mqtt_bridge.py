"""MQTT bridge to a platform's broker: each entity published as JSON on `<prefix>/<type>/<id>`, QoS 1.

An outbox item is done only when the broker has acknowledged (PUBACK) every entity it maps to; whatever is
not acknowledged within the ack timeout is kept for retry. Delivery is at least once: a message whose
PUBACK was lost is published again, and consumers must treat (entity id, observedAt) as the identity of a
reading. Nothing is published while the connection is down, so paho's own queue cannot grow behind the
outbox's back (it is bounded anyway).
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

from gateway.errors import InvalidInput
from gateway.forwarders.base import Envelope, SendResult
from gateway.ngsi.entities import DEFAULT_NOISE_PERIOD_S, MappingError, entities_for
from gateway.ngsi.keyvalues import key_values

log = logging.getLogger(__name__)

NORMALIZED, KEY_VALUES = "normalized", "keyValues"
_MAX_QUEUED = 10_000


class MqttBridgeForwarder:
    name = "mqtt"

    def __init__(self, host: str, port: int = 1883, prefix: str = "ngsi-ld", *, tls: bool = False,
                 ca_certs: str | None = None, username: str | None = None, password: str | None = None,
                 client_id: str = "", representation: str = NORMALIZED, ack_timeout_s: float = 10.0,
                 connect_timeout_s: float = 5.0, noise_period_s: float = DEFAULT_NOISE_PERIOD_S):
        if representation not in (NORMALIZED, KEY_VALUES):
            raise InvalidInput(f"representation must be {NORMALIZED} or {KEY_VALUES}, not {representation!r}")
        if not prefix or "+" in prefix or "#" in prefix:
            raise InvalidInput(f"bad topic prefix {prefix!r}")
        self.prefix = prefix.strip("/")
        self.representation = representation
        self.ack_timeout_s = ack_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.noise_period_s = noise_period_s
        self._connected = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=mqtt.MQTTv311)
        self._client.max_inflight_messages_set(100)
        self._client.max_queued_messages_set(_MAX_QUEUED)
        self._client.reconnect_delay_set(1, 30)
        if username is not None:
            self._client.username_pw_set(username, password)
        if tls:
            self._client.tls_set(ca_certs=ca_certs, cert_reqs=ssl.CERT_REQUIRED)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._where = f"{host}:{port}"
        self._client.connect_async(host, port, keepalive=30)
        self._client.loop_start()

    @classmethod
    def from_url(cls, url: str, **options) -> MqttBridgeForwarder:
        """mqtt(s)://[user:password@]host:port/prefix"""
        parts = urlsplit(url)
        if not parts.hostname:
            raise InvalidInput(f"no host in {url!r}")
        tls = parts.scheme == "mqtts"
        settings = {"tls": tls, "prefix": unquote(parts.path.strip("/")) or "ngsi-ld"}
        if parts.username:
            settings["username"] = unquote(parts.username)
            settings["password"] = unquote(parts.password) if parts.password else None
        return cls(parts.hostname, parts.port or (8883 if tls else 1883), **{**settings, **options})

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("mqtt bridge: broker %s refused the connection: %s", self._where, reason_code)
            return
        log.info("mqtt bridge: connected to %s", self._where)
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._connected.is_set():
            log.warning("mqtt bridge: lost %s (%s)", self._where, reason_code)
        self._connected.clear()

    def topic(self, entity: dict) -> str:
        return f"{self.prefix}/{entity['type']}/{entity['id']}"

    def send(self, batch: list[Envelope]) -> SendResult:
        result = SendResult()
        if not self._connected.wait(self.connect_timeout_s):
            result.retry.extend(envelope.id for envelope in batch)
            return result
        pending: list[tuple[int, list[mqtt.MQTTMessageInfo]]] = []
        for position, envelope in enumerate(batch):
            try:
                entities = entities_for(envelope.kind, envelope.payload, self.noise_period_s)
            except MappingError as exc:
                log.warning("mqtt bridge: outbox item %s cannot be mapped: %s", envelope.id, exc)
                result.rejected[envelope.id] = "mapping"
                continue
            infos = [self._publish(entity) for entity in entities]
            if any(info.rc != mqtt.MQTT_ERR_SUCCESS for info in infos):
                # Publishing stopped being possible: this item and all later ones wait for the next try.
                pending.append((envelope.id, infos))
                result.retry.extend(e.id for e in batch[position + 1:])
                break
            pending.append((envelope.id, infos))
        deadline = time.monotonic() + self.ack_timeout_s
        retry_after: list[int] = []
        for envelope_id, infos in pending:
            if all(self._acked(info, deadline) for info in infos):
                result.done.append(envelope_id)
            else:
                retry_after.append(envelope_id)
        result.retry[:0] = retry_after  # in batch order: earlier items before the untried tail
        return result

    def _publish(self, entity: dict) -> mqtt.MQTTMessageInfo:
        body = key_values(entity) if self.representation == KEY_VALUES else entity
        return self._client.publish(self.topic(entity), json.dumps(body, separators=(",", ":")), qos=1)

    @staticmethod
    def _acked(info: mqtt.MQTTMessageInfo, deadline: float) -> bool:
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN):
            return False
        try:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
