"""Entities the gateway sends conform to the Smart Data Models schemas (key-values form), and the schema
check does catch entities that break a model."""

import pytest

from gateway.ngsi.entities import device_entities, observation_entities
from sim.platform.validation import EntitySchemas

NODE = "a4cf12f00d01"
T0 = 1_763_765_000.0
LOCATION = [3.0573, 50.6292]


@pytest.fixture(scope="module")
def schemas():
    return EntitySchemas()


def observation(records, role="sensor", time=T0, location=LOCATION):
    return {"node_id": NODE, "site": "lille-fives", "role": role, "board": "b", "boot": 1, "seq": 0,
            "time": time, "received": T0, "records": records, "device": {"location": location}}


def every_quantity(t=T0):
    units = {"temp": "Cel", "hum": "%RH", "pres": "Pa", "lux": "lx", "noise": "dB", "pm25": "ug/m3",
             "pm10": "ug/m3", "presence": "count", "power": "W", "energy": "Wh", "dim": "%", "batt": "%",
             "vbat": "V", "rssi": "dBm", "lifi": "count"}
    values = {"temp": -3.5, "hum": 99.5, "pres": 99000.0, "lux": 0.0, "noise": 48.0, "pm25": 0.0, "pm10": 3.0,
              "presence": 2, "power": 35.0, "energy": 1200.0, "dim": 100.0, "batt": 50.0, "vbat": 3.7,
              "rssi": -70, "lifi": 12}
    return [{"n": n, "u": units[n], "v": values[n], "t": t} for n in units]


RECORD = {"id": NODE, "site": "lille-fives", "role": "luminaire", "board": "esp32-lum",
          "hw": {"chip": "ESP32", "rev": 3, "mac": "a4cf12f00d01"}, "fw": "0.3.1",
          "caps": [["dim", "%", 60], ["power", "W", 60], ["temp", "Cel", 60], ["rssi", "dBm", 60]],
          "networks": ["wifi"], "location": LOCATION, "asset": "LP-0042", "operator": "MEL",
          "install_date": "2026-10-01", "state": "active", "liveness": "stale", "last_seen": T0, "boot": 4,
          "health": {"rssi": -61, "heap_free": 81234, "uptime": 3600, "reset": "watchdog"}}


@pytest.mark.parametrize("role", ["sensor", "luminaire", "lifi-rx"])
@pytest.mark.parametrize("located", [True, False])
@pytest.mark.parametrize("synced", [True, False])
def test_every_observation_entity_conforms(schemas, role, located, synced):
    payload = observation(every_quantity(), role, T0 if synced else None, LOCATION if located else None)
    entities = observation_entities(payload)
    assert len(entities) >= 5
    for entity in entities:
        assert schemas.errors(entity) == [], entity["id"]


def test_outliers_and_text_values_conform(schemas):
    records = [{"n": "hum", "u": "%RH", "v": 130.0, "t": T0}, {"n": "pm25", "v": -1.0, "t": T0},
               {"n": "door", "vb": False, "t": T0}, {"n": "dim", "v": 150.0, "t": T0}]
    for entity in observation_entities(observation(records, role="luminaire")):
        assert schemas.errors(entity) == [], entity["id"]


@pytest.mark.parametrize("record", [
    RECORD,
    {**RECORD, "role": "sensor", "location": None, "state": "pending", "install_date": None, "hw": {}},
    {**RECORD, "role": "lifi-rx", "caps": [], "networks": [], "health": {}},
    # the shape of the gateway inventory's JSON record
    {**RECORD, "cfg": "0011223344556677", "first_seen": T0 - 86400, "period": 60, "reset": "watchdog",
     "safe": False, "lifi": [], "networks": ["wifi", "mqtt", "lifi"],
     "seq": {"next": 12, "received": 11, "duplicates": 0, "gaps": 0, "buffered": 0, "dropped": 0},
     "health": {"reset": "watchdog", "uptime": 60, "heap_free": 90000, "heap_alloc": 20000, "rssi": -70,
                "faults": {"lamp": "open"}, "ext": {"dim": 35.5, "lamp": "fault"}}},
])
def test_device_entities_conform(schemas, record):
    for entity in device_entities(record):
        assert schemas.errors(entity) == [], entity["id"]


def _weather():
    return observation_entities(observation([{"n": "temp", "v": 10.0, "t": T0}]))[0]


@pytest.mark.parametrize("breakage, expected", [
    (lambda e: e.update(relativeHumidity={"type": "Property", "value": 55.0}), "relativeHumidity"),
    (lambda e: e.pop("dateObserved"), "dateObserved"),
    (lambda e: e.update(dateObserved={"type": "Property", "value": "yesterday"}), "date-time"),
    (lambda e: e.pop("location"), "location"),
    (lambda e: e.update(type="WeatherObservation"), "no Smart Data Model"),
    (lambda e: e.update(location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [3.0]}}),
     "location"),
])
def test_breaking_a_model_is_caught(schemas, breakage, expected):
    entity = _weather()
    assert schemas.errors(entity) == []
    breakage(entity)
    errors = schemas.errors(entity)
    assert errors and expected in " ".join(errors)


def test_streetlight_status_outside_its_enumeration_is_caught(schemas):
    light = device_entities(RECORD)[1]
    light["status"] = {"type": "Property", "value": "broken"}
    assert any("status" in error for error in schemas.errors(light))
    light = device_entities(RECORD)[1]
    light["illuminanceLevel"] = {"type": "Property", "value": 80}  # percent where SDM wants 0..1
    assert any("illuminanceLevel" in error for error in schemas.errors(light))


def test_air_quality_schema_resolves_the_environment_commons_alias(schemas):
    [air] = observation_entities(observation([{"n": "pm25", "v": 3.0, "t": T0}]))
    air["airQualityLevel"] = {"type": "Property", "value": "x"}  # minLength 2 in Environment-schema.json
    assert any("airQualityLevel" in error for error in schemas.errors(air))
