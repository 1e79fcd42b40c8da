"""The seam between the outbox and the forwarders that carry its items north.

The outbox hands a forwarder a batch of envelopes in insertion order; the forwarder answers which ones the
destination accepted, which must be kept and retried, and which it refused for good.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from gateway.errors import InvalidInput


@dataclass(frozen=True)
class Envelope:
    """One outbox item as a forwarder sees it."""

    id: int  # outbox id, strictly increasing in insertion order
    kind: str  # "observation" | "device"
    payload: dict  # JSON-serialisable


@dataclass
class SendResult:
    done: list[int] = field(default_factory=list)  # accepted by the destination
    retry: list[int] = field(default_factory=list)  # transient failure: keep, retry later with backoff, in order
    rejected: dict[int, str] = field(default_factory=dict)  # permanent failure: counted by reason, not retried


class Forwarder(Protocol):
    name: str  # "ngsi-ld", "mqtt", "file"

    def send(self, batch: list[Envelope]) -> SendResult: ...

    def close(self) -> None: ...


def from_url(url: str, **options) -> Forwarder:
    """Build the forwarder a destination URL names.

    ngsi-ld+http(s)://host:port[/path], mqtt(s)://host:port/prefix, file:///x.jsonl
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("ngsi-ld+http", "ngsi-ld+https"):
        from gateway.forwarders.ngsi_ld import NgsiLdForwarder

        return NgsiLdForwarder.from_url(url, **options)
    if scheme in ("mqtt", "mqtts"):
        from gateway.forwarders.mqtt_bridge import MqttBridgeForwarder

        return MqttBridgeForwarder.from_url(url, **options)
    if scheme == "file":
        from gateway.forwarders.jsonl import JsonlForwarder

        return JsonlForwarder.from_url(url, **options)
    raise InvalidInput(f"unknown forwarder URL scheme {scheme!r} in {url!r}")
