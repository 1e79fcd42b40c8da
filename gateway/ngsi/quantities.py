"""Where each SenML quantity of the registry lands in Smart Data Models.

A quantity belongs to a *group*: one entity type per (node, group), so that each upsert updates the same
entity. Scales convert the node's unit to the one the model prescribes (SDM wants relative humidity and
illuminance level as fractions of one, pressure in hPa). Units are UN/CEFACT common codes; a quantity
whose CEFACT code is uncertain (dBm) carries only the SenML unit in DeviceMeasurement's free-text `unit`.
"""

from __future__ import annotations

from dataclasses import dataclass

AIR = "AirQualityObserved"
WEATHER = "WeatherObserved"
NOISE = "NoiseLevelObserved"
STREETLIGHT = "Streetlight"
MEASUREMENT = "DeviceMeasurement"


@dataclass(frozen=True)
class Placement:
    group: str  # the SDM entity type that carries the quantity
    attribute: str  # its attribute name in that model
    scale: float  # model value = node value * scale
    unit_code: str | None  # UN/CEFACT code of the model value
    controlled_property: str | None  # Device.controlledProperty enum value
    minimum: float | None = None  # model bounds: a value outside them goes to DeviceMeasurement as an outlier
    maximum: float | None = None


_DOMAIN = {
    "temp": Placement(WEATHER, "temperature", 1.0, "CEL", "temperature"),
    "hum": Placement(WEATHER, "relativeHumidity", 0.01, "C62", "humidity", 0.0, 1.0),
    "pres": Placement(WEATHER, "atmosphericPressure", 0.01, "A97", "atmosphericPressure", 0.0),
    "lux": Placement(WEATHER, "illuminance", 1.0, "LUX", "light", 0.0),
    "noise": Placement(NOISE, "LAeq", 1.0, "2N", "noiseLevel"),
    "pm25": Placement(AIR, "pm25", 1.0, "GQ", "airPollution", 0.0),
    "pm10": Placement(AIR, "pm10", 1.0, "GQ", "airPollution", 0.0),
}
# Measured by a luminaire, these describe the lamp itself.
_LUMINAIRE = {
    "dim": Placement(STREETLIGHT, "illuminanceLevel", 0.01, "C62", "light", 0.0, 1.0),
    "power": Placement(STREETLIGHT, "powerConsumption", 1.0, "WTT", "power"),
    "energy": Placement(STREETLIGHT, "lifetimePowerConsumption", 1.0, "WHR", "energy"),
}
# No domain model fits these: one DeviceMeasurement per (node, quantity).
_MEASUREMENT_UNITS = {
    "presence": ("C62", "occupancy"),
    "power": ("WTT", "power"),
    "energy": ("WHR", "energy"),
    "dim": ("P1", "light"),
    "batt": ("P1", "batteryLife"),
    "vbat": ("VLT", "batterySupply"),
    "rssi": (None, None),
    "lifi": ("C62", None),
}
# Air-quality observations also carry the temperature and humidity measured with them.
AIR_COMPANIONS = ("temp", "hum")

LUMINAIRE_ROLE = "luminaire"


def placement(quantity: str, role: str | None) -> Placement:
    """Where `quantity` measured by a node of `role` goes; unknown quantities go to DeviceMeasurement."""
    if role == LUMINAIRE_ROLE and quantity in _LUMINAIRE:
        return _LUMINAIRE[quantity]
    if quantity in _DOMAIN:
        return _DOMAIN[quantity]
    return measurement_placement(quantity)


def measurement_placement(quantity: str) -> Placement:
    unit_code, controlled = _MEASUREMENT_UNITS.get(quantity, (None, None))
    if quantity in _DOMAIN:
        unit_code, controlled = _DOMAIN[quantity].unit_code, _DOMAIN[quantity].controlled_property
        # The measurement keeps the node's own unit, not the model's scaled one.
        unit_code = {"C62": "P1", "A97": "PAL"}.get(unit_code, unit_code)
    return Placement(MEASUREMENT, "numValue", 1.0, unit_code, controlled)


def controlled_properties(quantities: list[str], role: str | None) -> list[str]:
    """Device.controlledProperty for the quantities a node declares, in declaration order, without repeats."""
    seen: list[str] = []
    for quantity in quantities:
        controlled = placement(quantity, role).controlled_property
        if controlled and controlled not in seen:
            seen.append(controlled)
    return seen
