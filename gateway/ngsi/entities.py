"""Observations and inventory records as NGSI-LD entities (normalized form) following Smart Data Models.

Entity ids are stable per (node, quantity group) — `urn:ngsi-ld:<Type>:<node_id>`, and
`urn:ngsi-ld:DeviceMeasurement:<node_id>:<quantity>` for quantities no domain model fits — so that each
upsert updates the same entity and its history lives in the platform's temporal store (`observedAt`).

Unsynced observations: a node without NTP time reports `time: null`; such readings are dated with the
moment the gateway received them (`received`), and every entity built from them says so with
`timeSource: "gateway-received"` (else `"node"`), so a consumer can tell a measured date from an estimate.

A node without a location cannot feed models that require one (AirQualityObserved, WeatherObserved,
NoiseLevelObserved, Streetlight): its readings go to DeviceMeasurement entities instead, which keeps them.
A value outside the range a model allows (e.g. humidity above 100 %) is not forced into it either: it goes
to DeviceMeasurement with `outlier: true`.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from gateway.errors import InvalidInput
from gateway.ngsi import quantities as q

DEVICE = "Device"
LOCATED_GROUPS = (q.AIR, q.WEATHER, q.NOISE, q.STREETLIGHT)
DEFAULT_NOISE_PERIOD_S = 60.0
TIME_FROM_NODE = "node"
TIME_FROM_GATEWAY = "gateway-received"
_NODE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")  # the wire contract's rule: ids become URN parts


class MappingError(InvalidInput):
    """An outbox payload cannot be expressed as NGSI-LD entities (missing or malformed field)."""


def urn(entity_type: str, *parts: str) -> str:
    return ":".join(("urn:ngsi-ld", entity_type, *parts))


def iso(epoch: float) -> str:
    """ISO 8601 UTC with milliseconds, the form NGSI-LD brokers and SDM `date-time` fields accept."""
    try:
        stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    except (ValueError, OverflowError, OSError) as exc:
        raise MappingError(f"time {epoch!r} cannot be a date") from exc
    return stamp.replace("+00:00", "Z")


def prop(value, observed_at: str | None = None, unit_code: str | None = None) -> dict:
    attribute = {"type": "Property", "value": value}
    if observed_at is not None:
        attribute["observedAt"] = observed_at
    if unit_code is not None:
        attribute["unitCode"] = unit_code
    return attribute


def rel(target: str) -> dict:
    return {"type": "Relationship", "object": target}


def geo_point(location) -> dict | None:
    if location is None:
        return None
    if not (isinstance(location, (list, tuple)) and len(location) == 2
            and all(isinstance(c, (int, float)) and math.isfinite(c) for c in location)):
        raise MappingError(f"location must be [lon, lat], got {location!r}")
    lon, lat = float(location[0]), float(location[1])
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise MappingError(f"location out of range (lon, lat): {location!r}")
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def _node_id(payload: dict, key: str) -> str:
    node_id = _required(payload, key)
    if not isinstance(node_id, str) or not _NODE_ID.match(node_id):
        raise MappingError(f"{key} is not a node id: {node_id!r}")
    return node_id


def _required(payload: dict, key: str):
    if key not in payload or payload[key] is None:
        raise MappingError(f"payload lacks {key!r}")
    return payload[key]


def _epoch(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MappingError(f"{what} must be epoch seconds, got {value!r}")
    return float(value)


# ----------------------------------------------------------------------------------------------- observations

def observation_entities(payload: dict, noise_period_s: float = DEFAULT_NOISE_PERIOD_S) -> list[dict]:
    """The entities one data message updates, one per (group, observation time), in time order."""
    node_id = _node_id(payload, "node_id")
    role = payload.get("role")
    device = payload.get("device") or {}
    location = geo_point(device.get("location"))
    synced = payload.get("time") is not None
    base_time = _epoch(payload["time"] if synced else _required(payload, "received"), "time")
    records = payload.get("records")
    if not isinstance(records, list):
        raise MappingError("payload 'records' must be a list")

    slots: dict[tuple[str, str, float], dict] = {}  # (group, quantity key, time) -> attributes
    for record in records:
        _place_record(record, role, location is not None, base_time, slots)
    _add_air_companions(slots)

    context = _ObservationContext(node_id, location, TIME_FROM_NODE if synced else TIME_FROM_GATEWAY,
                                  _noise_period(device, noise_period_s), role)
    ordered = sorted(slots.items(), key=lambda item: (item[0][2], _GROUP_ORDER.get(item[0][0], 9), item[0][1]))
    return [context.build(group, key, when, attributes) for (group, key, when), attributes in ordered]


_GROUP_ORDER = {q.STREETLIGHT: 0, q.AIR: 1, q.WEATHER: 2, q.NOISE: 3, q.MEASUREMENT: 4}


def _place_record(record, role, located: bool, base_time: float, slots: dict) -> None:
    if not isinstance(record, dict) or not isinstance(record.get("n"), str) or not record["n"]:
        raise MappingError(f"record without a quantity name: {record!r}")
    name = record["n"]
    when = _epoch(record["t"], f"time of {name}") if record.get("t") is not None else base_time
    value = record.get("v")
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if numeric and not math.isfinite(value):
        raise MappingError(f"{name} value is not finite")
    unit = record.get("u")
    if not numeric:
        text = _text_value(record)
        slots[(q.MEASUREMENT, name, when)] = {"textValue": text, "_unit": unit}
        return
    placement = q.placement(name, role)
    if placement.group != q.MEASUREMENT and located:
        scaled = value * placement.scale
        if _within(scaled, placement):
            slot = slots.setdefault((placement.group, "", when), {})
            slot[placement.attribute] = (scaled, placement.unit_code)
            return
        outlier = True
    else:
        outlier = False
    measurement = q.measurement_placement(name)
    slots[(q.MEASUREMENT, name, when)] = {"numValue": (value, measurement.unit_code), "_unit": unit,
                                         "_outlier": outlier, "_controlled": measurement.controlled_property}


def _text_value(record: dict) -> str:
    for key in ("vs", "vd"):
        if isinstance(record.get(key), str):
            return record[key]
    if isinstance(record.get("vb"), bool):
        return "true" if record["vb"] else "false"
    raise MappingError(f"record {record.get('n')!r} carries no value")


def _within(value: float, placement: q.Placement) -> bool:
    if placement.minimum is not None and value < placement.minimum:
        return False
    return placement.maximum is None or value <= placement.maximum


def _add_air_companions(slots: dict) -> None:
    for (group, _key, when), attributes in list(slots.items()):
        if group != q.AIR:
            continue
        weather = slots.get((q.WEATHER, "", when), {})
        for name in q.AIR_COMPANIONS:
            attribute = q.placement(name, None).attribute
            if attribute in weather:
                attributes.setdefault(attribute, weather[attribute])


def _noise_period(device: dict, default: float) -> float:
    """LAeq is an average over the reporting period: the noise capability's, else the node's, else default."""
    for cap in device.get("caps") or ():
        if isinstance(cap, (list, tuple)) and len(cap) >= 3 and cap[0] == "noise" and _positive(cap[2]):
            return float(cap[2])
    return float(device["period"]) if _positive(device.get("period")) else default


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


class _ObservationContext:
    def __init__(self, node_id: str, location: dict | None, time_source: str, noise_period_s: float, role):
        self.node_id = node_id
        self.device_urn = urn(DEVICE, node_id)
        self.location = location
        self.time_source = time_source
        self.noise_period_s = noise_period_s
        self.role = role

    def build(self, group: str, key: str, when: float, attributes: dict) -> dict:
        stamp = iso(when)
        if group == q.MEASUREMENT:
            return self._measurement(key, stamp, attributes)
        entity = {"id": urn(group, self.node_id), "type": group}
        for attribute, (value, unit_code) in attributes.items():
            entity[attribute] = prop(value, stamp, unit_code)
        entity["location"] = self.location
        if group == q.STREETLIGHT:
            self._streetlight_state(entity, attributes, stamp)
            entity["refDevice"] = [rel(self.device_urn)]
        else:
            entity["refDevice"] = rel(self.device_urn)
        if group == q.NOISE:
            start = iso(when - self.noise_period_s)
            entity["dateObservedFrom"] = prop(start)
            entity["dateObservedTo"] = prop(stamp)
            entity["dateObserved"] = prop(f"{start}/{stamp}")
        elif group == q.STREETLIGHT:
            entity["observationDateTime"] = prop(stamp)
        else:
            entity["dateObserved"] = prop(stamp)
        entity["timeSource"] = prop(self.time_source)
        return entity

    @staticmethod
    def _streetlight_state(entity: dict, attributes: dict, stamp: str) -> None:
        # A lamp commanded on that draws no power is the one lamp fault the readings themselves reveal.
        level = attributes.get("illuminanceLevel", (None,))[0]
        power = attributes.get("powerConsumption", (None,))[0]
        defective = level is not None and level > 0 and power is not None and power <= 0
        entity["status"] = prop("defectiveLamp" if defective else "ok", stamp)
        if level is not None:
            entity["powerState"] = prop("on" if level > 0 else "off", stamp)

    def _measurement(self, quantity: str, stamp: str, attributes: dict) -> dict:
        entity = {"id": urn(q.MEASUREMENT, self.node_id, quantity), "type": q.MEASUREMENT}
        if "numValue" in attributes:
            value, unit_code = attributes["numValue"]
            entity["numValue"] = prop(value, stamp, unit_code)
        else:
            entity["textValue"] = prop(attributes["textValue"], stamp)
        entity["measurementType"] = prop(quantity)
        if attributes.get("_controlled"):
            entity["controlledProperty"] = prop(attributes["_controlled"])
        if attributes.get("_unit"):
            entity["unit"] = prop(str(attributes["_unit"]))
        if attributes.get("_outlier"):
            entity["outlier"] = prop(True)
        if self.role:
            entity["deviceType"] = prop(str(self.role))
        if self.location is not None:
            entity["location"] = self.location
        entity["refDevice"] = rel(self.device_urn)
        entity["dateObserved"] = prop(stamp)
        entity["timeSource"] = prop(self.time_source)
        return entity


# ---------------------------------------------------------------------------------------------------- devices

_CATEGORIES = {"sensor": ["sensor"], "luminaire": ["actuator", "sensor"], "lifi-rx": ["sensor"]}
_MAC = re.compile(r"^[0-9a-f]{12}$")


def device_entities(record: dict) -> list[dict]:
    """The Device entity of an inventory record, plus the Streetlight of a located luminaire."""
    node_id = _node_id(record, "id")
    role = record.get("role")
    caps = record.get("caps") or []
    names = [cap[0] for cap in caps if isinstance(cap, (list, tuple)) and cap and isinstance(cap[0], str)]
    location = geo_point(record.get("location"))
    hw = record.get("hw") or {}
    health = record.get("health") or {}

    entity: dict = {"id": urn(DEVICE, node_id), "type": DEVICE,
                    "controlledProperty": prop(q.controlled_properties(names, role)),
                    "name": prop(node_id)}
    _set(entity, "deviceCategory", _CATEGORIES.get(role))
    entity["supportedProtocol"] = prop(_protocols(record.get("networks")))
    _set(entity, "macAddress", _mac(hw.get("mac")))
    _set(entity, "hardwareVersion", _hardware(hw))
    _set(entity, "firmwareVersion", record.get("fw"))
    _set(entity, "deviceState", _device_state(record))
    if record.get("last_seen") is not None:
        entity["dateLastValueReported"] = prop(iso(_epoch(record["last_seen"], "last_seen")))
    _set(entity, "dateInstalled", _install_datetime(record.get("install_date")))
    _set(entity, "provider", record.get("operator"))
    if isinstance(health.get("rssi"), (int, float)) and not isinstance(health.get("rssi"), bool):
        entity["rssi"] = prop(health["rssi"], unit_code=None)
    if location is not None:
        entity["location"] = location
    # Inventory facts no SDM attribute holds (documented in docs/ngsi-ld.md).
    for attribute, value in (("site", record.get("site")), ("asset", record.get("asset")),
                             ("role", role), ("board", record.get("board")), ("bootCount", record.get("boot")),
                             ("health", _compact(health)),
                             ("lifiCoverage", record.get("lifi_coverage", record.get("lifi")))):
        _set(entity, attribute, value)

    entities = [entity]
    if role == q.LUMINAIRE_ROLE and location is not None:
        entities.append(_streetlight(record, node_id, location))
    return entities


def _streetlight(record: dict, node_id: str, location: dict) -> dict:
    light = {"id": urn(q.STREETLIGHT, node_id), "type": q.STREETLIGHT,
             "status": prop("defectiveLamp" if _lamp_fault(record) else "ok"),
             "location": location, "refDevice": [rel(urn(DEVICE, node_id))],
             "controllingMethod": prop("individual"), "name": prop(str(record.get("asset") or node_id))}
    _set(light, "dateServiceStarted", _install_datetime(record.get("install_date")))
    # The luminaire's status message reports its dim level (status key 28, ext.dim), in percent.
    dim = ((record.get("health") or {}).get("ext") or {}).get("dim")
    if isinstance(dim, (int, float)) and not isinstance(dim, bool) and 0 <= dim <= 100:
        light["illuminanceLevel"] = prop(dim / 100.0)
        light["powerState"] = prop("on" if dim > 0 else "off")
    return light


def _lamp_fault(record: dict) -> bool:
    faults = record.get("faults") or (record.get("health") or {}).get("faults") or {}
    return isinstance(faults, dict) and any("lamp" in str(part) for part in faults)


def _set(entity: dict, attribute: str, value) -> None:
    if value is not None and value != "" and value != {} and value != []:
        entity[attribute] = prop(value)


def _compact(health: dict) -> dict | None:
    kept = {key: value for key, value in health.items() if key != "rssi" and value is not None}
    return kept or None


def _protocols(networks) -> list[str]:
    found = ["mqtt"]
    for network in networks or ():
        name = network if isinstance(network, str) else str(
            (network or {}).get("kind") or (network or {}).get("type") or (network or {}).get("name") or "")
        if "ble" in name.lower() and "bluetooth LE" not in found:
            found.append("bluetooth LE")
    return found


def _mac(mac) -> str | None:
    if not isinstance(mac, str):
        return None
    digits = mac.lower().replace(":", "").replace("-", "")
    if not _MAC.match(digits):
        return None
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def _hardware(hw: dict) -> str | None:
    chip, rev = hw.get("chip"), hw.get("rev")
    if chip is None:
        return None
    return f"{chip} rev {rev}" if rev is not None else str(chip)


def _device_state(record: dict) -> str | None:
    state = record.get("state")
    if state == "active" and record.get("liveness"):
        return str(record["liveness"])
    return str(state) if state is not None else None


def _install_datetime(value) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return iso(float(value))
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MappingError(f"install_date is not an ISO date: {text!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return iso(parsed.timestamp())


# ------------------------------------------------------------------------------------------------- dispatcher

def entities_for(kind: str, payload: dict, noise_period_s: float = DEFAULT_NOISE_PERIOD_S) -> list[dict]:
    """The entities an outbox item of `kind` becomes."""
    if not isinstance(payload, dict):
        raise MappingError(f"{kind} payload is not an object")
    if kind == "observation":
        return observation_entities(payload, noise_period_s)
    if kind == "device":
        return device_entities(payload)
    raise MappingError(f"unknown outbox item kind {kind!r}")
