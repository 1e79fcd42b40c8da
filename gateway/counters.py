"""The gateway's counters and gauges, shared by ingest, outbox, forwarders and the metrics endpoint.

Values live in plain dicts behind one lock (several threads update them); `collector()` exposes them to a
prometheus-client registry under the documented `reverbere_` names without copying them into it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

# name -> (kind, label names, help). Counters end in `_total`; prometheus-client adds the suffix itself.
METRICS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "messages_ingested_total": ("counter", (), "Uplink messages accepted (after dedup), every channel"),
    "messages_rejected_total": ("counter", ("reason",), "Uplink messages refused, by reason"),
    "messages_held_total": ("counter", (), "Observations of pending devices held in quarantine"),
    "messages_ignored_total": ("counter", ("reason",), "Messages on the subscription that are not uplinks"),
    "duplicates_total": ("counter", (), "Uplink messages already seen (node, channel, boot, seq)"),
    "rebirth_requests_total": ("counter", ("reason",), "Rebirth commands sent to nodes, by reason"),
    "outbox_depth": ("gauge", (), "Outbox items not yet delivered by every forwarder"),
    "outbox_bytes": ("gauge", (), "Bytes held in the outbox"),
    "outbox_oldest_age_seconds": ("gauge", (), "Age of the oldest undelivered outbox item"),
    "forwarded_total": ("counter", ("forwarder",), "Outbox items accepted by a destination"),
    "forward_rejected_total": (
        "counter",
        ("forwarder", "reason"),
        "Outbox items a destination refused for good",
    ),
    "forward_retries_total": ("counter", ("forwarder",), "Send attempts that left items to retry"),
    "dropped_total": ("counter", ("reason",), "Items dropped by a bound (always the oldest), by reason"),
    "devices": ("gauge", ("state",), "Devices in the inventory by administrative state"),
    "devices_liveness": ("gauge", ("liveness",), "Devices in the inventory by liveness"),
    "ingest_batches_total": ("counter", (), "Ingest transactions committed"),
    "lifi_beacons_rejected_total": (
        "counter",
        ("reason",),
        "LiFi beacons reported by receivers and refused (forged, replayed, truncated...)",
    ),
}


class UnknownMetric(KeyError):
    """A counter or gauge name that is not declared in METRICS."""


class Counters:
    """Thread-safe counters and gauges keyed by (name, label values)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[tuple[str, ...], float]] = {name: {} for name in METRICS}

    def _key(self, name: str, labels: Mapping[str, str]) -> tuple[str, ...]:
        try:
            label_names = METRICS[name][1]
        except KeyError:
            raise UnknownMetric(name) from None
        return tuple(str(labels[label]) for label in label_names)

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = self._key(name, labels)
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        key = self._key(name, labels)
        with self._lock:
            self._values[name][key] = value

    def replace(self, name: str, values: Mapping[tuple[str, ...], float]) -> None:
        """Set a labelled gauge wholesale (labels that vanished go back to absent)."""
        if name not in METRICS:
            raise UnknownMetric(name)
        with self._lock:
            self._values[name] = dict(values)

    def value(self, name: str, **labels: str) -> float:
        key = self._key(name, labels)
        with self._lock:
            return self._values[name].get(key, 0)

    def total(self, name: str) -> float:
        """Sum over every label combination."""
        with self._lock:
            return sum(self._values[name].values())

    def snapshot(self) -> dict[str, dict[tuple[str, ...], float]]:
        with self._lock:
            return {name: dict(series) for name, series in self._values.items()}

    def collector(self, prefix: str = "reverbere_") -> Collector:
        return _Collector(self, prefix)


class _Collector(Collector):
    def __init__(self, counters: Counters, prefix: str) -> None:
        self._counters = counters
        self._prefix = prefix

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        snapshot = self._counters.snapshot()
        for name, (kind, label_names, help_text) in METRICS.items():
            if kind == "counter":
                family = CounterMetricFamily(
                    self._prefix + name.removesuffix("_total"), help_text, labels=label_names
                )
            else:
                family = GaugeMetricFamily(self._prefix + name, help_text, labels=label_names)
            for labels, value in sorted(snapshot[name].items()):
                family.add_metric(list(labels), value)
            yield family
