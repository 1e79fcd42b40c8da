"""Observations and inventory records mapped to NGSI-LD entities (pure functions)."""

import pytest

from gateway.ngsi.entities import MappingError, device_entities, entities_for, iso, observation_entities
from gateway.ngsi.keyvalues import key_values

NODE = "a4cf12f00d01"
T0 = 1_763_765_000.0


def observation(records, role="sensor", time=T0, location=(3.0573, 50.6292), **device):
    return {"node_id": NODE, "site": "lille-fives", "role": role, "board": "esp32-env", "boot": 4, "seq": 9,
            "time": time, "received": T0 + 0.4, "records": records,
            "device": {"location": list(location) if location else None, "asset": "LP-0042",
                       "operator": "MEL", "site": "lille-fives", **device}}


def rec(name, value, unit="", t=T0):
    return {"n": name, "u": unit, "v": value, "t": t}


def by_id(entities):
    return {entity["id"]: entity for entity in entities}


def test_quantities_go_to_their_domain_models_with_stable_ids():
    entities = by_id(observation_entities(observation([
        rec("temp", 12.5, "Cel"), rec("hum", 55.0, "%RH"), rec("pres", 101325.0, "Pa"), rec("lux", 300.0, "lx"),
        rec("pm25", 7.5, "ug/m3"), rec("pm10", 11.0, "ug/m3"), rec("noise", 56.5, "dB"), rec("batt", 88.0, "%"),
    ])))
    assert set(entities) == {
        f"urn:ngsi-ld:WeatherObserved:{NODE}", f"urn:ngsi-ld:AirQualityObserved:{NODE}",
        f"urn:ngsi-ld:NoiseLevelObserved:{NODE}", f"urn:ngsi-ld:DeviceMeasurement:{NODE}:batt"}
    weather = entities[f"urn:ngsi-ld:WeatherObserved:{NODE}"]
    assert weather["relativeHumidity"]["value"] == pytest.approx(0.55)  # SDM wants a fraction of one
    assert weather["atmosphericPressure"]["value"] == pytest.approx(1013.25)  # and hPa
    assert weather["atmosphericPressure"]["unitCode"] == "A97"
    assert weather["temperature"] == {"type": "Property", "value": 12.5, "observedAt": iso(T0), "unitCode": "CEL"}
    assert weather["dateObserved"]["value"] == "2025-11-21T22:43:20.000Z"
    air = entities[f"urn:ngsi-ld:AirQualityObserved:{NODE}"]
    assert air["pm25"]["value"] == 7.5 and air["pm10"]["unitCode"] == "GQ"
    assert air["temperature"]["value"] == 12.5  # measured alongside, carried by both models
    for entity in entities.values():
        assert entity["refDevice"] == {"type": "Relationship", "object": f"urn:ngsi-ld:Device:{NODE}"}
        assert entity["location"]["value"] == {"type": "Point", "coordinates": [3.0573, 50.6292]}
        assert entity["timeSource"]["value"] == "node"
    batt = entities[f"urn:ngsi-ld:DeviceMeasurement:{NODE}:batt"]
    assert batt["numValue"]["value"] == 88.0 and batt["controlledProperty"]["value"] == "batteryLife"


def test_noise_period_comes_from_the_declared_capability():
    [noise] = observation_entities(observation([rec("noise", 61.0, "dB")], caps=[["noise", "dB", 300]]))
    assert noise["LAeq"]["value"] == 61.0
    assert noise["dateObservedFrom"]["value"] == iso(T0 - 300)
    assert noise["dateObservedTo"]["value"] == iso(T0)
    [node_period] = observation_entities(observation([rec("noise", 61.0, "dB")], period=120))
    assert node_period["dateObservedFrom"]["value"] == iso(T0 - 120)
    [default] = observation_entities(observation([rec("noise", 61.0, "dB")]))
    assert default["dateObservedFrom"]["value"] == iso(T0 - 60)


def test_readings_at_several_times_become_one_update_each_in_time_order():
    entities = observation_entities(observation([rec("temp", 14.0, "Cel", T0 + 120), rec("temp", 12.0, "Cel", T0),
                                                 rec("temp", 13.0, "Cel", T0 + 60)]))
    assert [e["temperature"]["value"] for e in entities] == [12.0, 13.0, 14.0]
    assert len({e["id"] for e in entities}) == 1


def test_unsynced_observation_is_dated_on_reception_and_marked():
    [entity] = observation_entities(observation([{"n": "temp", "u": "Cel", "v": 9.0}], time=None))
    assert entity["temperature"]["observedAt"] == iso(T0 + 0.4)
    assert entity["timeSource"]["value"] == "gateway-received"


def test_without_location_readings_are_kept_as_device_measurements():
    entities = observation_entities(observation([rec("temp", 12.5, "Cel"), rec("pm25", 4.0)], location=None))
    assert sorted(e["id"] for e in entities) == [f"urn:ngsi-ld:DeviceMeasurement:{NODE}:pm25",
                                                 f"urn:ngsi-ld:DeviceMeasurement:{NODE}:temp"]
    assert all("location" not in e for e in entities)


def test_value_outside_the_model_range_goes_to_a_measurement_marked_outlier():
    entities = by_id(observation_entities(observation([rec("hum", 120.0, "%RH"), rec("temp", 20.0, "Cel")])))
    outlier = entities[f"urn:ngsi-ld:DeviceMeasurement:{NODE}:hum"]
    assert outlier["numValue"]["value"] == 120.0 and outlier["outlier"]["value"] is True
    assert "relativeHumidity" not in entities[f"urn:ngsi-ld:WeatherObserved:{NODE}"]


def test_luminaire_readings_update_its_streetlight():
    [light] = observation_entities(observation([rec("dim", 80.0, "%"), rec("power", 31.5, "W")], role="luminaire"))
    assert light["id"] == f"urn:ngsi-ld:Streetlight:{NODE}"
    assert light["illuminanceLevel"]["value"] == pytest.approx(0.8)
    assert light["powerState"]["value"] == "on" and light["status"]["value"] == "ok"
    assert light["refDevice"] == [{"type": "Relationship", "object": f"urn:ngsi-ld:Device:{NODE}"}]
    [dark] = observation_entities(observation([rec("dim", 60.0, "%"), rec("power", 0.0, "W")], role="luminaire"))
    assert dark["status"]["value"] == "defectiveLamp"  # commanded on, drawing nothing
    [off] = observation_entities(observation([rec("dim", 0.0, "%")], role="luminaire"))
    assert off["powerState"]["value"] == "off"


def test_text_and_boolean_values_become_text_measurements():
    entities = by_id(observation_entities(observation([{"n": "door", "vb": True, "t": T0},
                                                       {"n": "mode", "vs": "eco", "t": T0}])))
    assert entities[f"urn:ngsi-ld:DeviceMeasurement:{NODE}:door"]["textValue"]["value"] == "true"
    assert entities[f"urn:ngsi-ld:DeviceMeasurement:{NODE}:mode"]["textValue"]["value"] == "eco"


@pytest.mark.parametrize("payload, reason", [
    ({"records": []}, "node_id"),
    (observation([{"u": "Cel", "v": 1.0}]), "quantity name"),
    (observation([{"n": "temp", "v": float("nan")}]), "not finite"),
    (observation([{"n": "temp"}]), "no value"),
    (observation([rec("temp", 1.0)], location=(200.0, 50.0)), "out of range"),
    ({**observation([]), "records": "x"}, "list"),
    ({**observation([]), "time": None, "received": None}, "received"),
])
def test_malformed_observations_raise_a_mapping_error(payload, reason):
    with pytest.raises(MappingError, match=reason):
        observation_entities(payload)


RECORD = {"id": NODE, "site": "lille-fives", "role": "luminaire", "board": "esp32-lum",
          "hw": {"chip": "ESP32-D0WD", "rev": 3, "mac": "A4CF12F00D01"}, "fw": "0.3.1",
          "caps": [["dim", "%", 60], ["power", "W", 60], ["lux", "lx", 60], ["rssi", "dBm", 300]],
          "networks": ["wifi", "lifi", "ble"], "location": [3.0573, 50.6292], "asset": "LP-0042",
          "operator": "MEL", "install_date": "2026-10-01", "state": "active", "liveness": "online",
          "last_seen": T0, "boot": 4, "health": {"rssi": -61, "heap_free": 81234, "uptime": 3600, "reset": "power-on"}}


def test_device_record_becomes_a_device_and_a_streetlight():
    device, light = device_entities(RECORD)
    assert device["id"] == f"urn:ngsi-ld:Device:{NODE}"
    kv = key_values(device)
    assert kv["controlledProperty"] == ["light", "power"]
    assert kv["deviceCategory"] == ["actuator", "sensor"]
    assert kv["supportedProtocol"] == ["mqtt", "bluetooth LE"]
    assert kv["macAddress"] == "a4:cf:12:f0:0d:01"
    assert kv["firmwareVersion"] == "0.3.1" and kv["hardwareVersion"] == "ESP32-D0WD rev 3"
    assert kv["deviceState"] == "online"
    assert kv["dateInstalled"] == "2026-10-01T00:00:00.000Z"
    assert kv["dateLastValueReported"] == iso(T0)
    assert kv["rssi"] == -61 and kv["provider"] == "MEL" and kv["site"] == "lille-fives"
    assert kv["health"] == {"heap_free": 81234, "uptime": 3600, "reset": "power-on"}
    assert light["id"] == f"urn:ngsi-ld:Streetlight:{NODE}"
    assert key_values(light)["status"] == "ok" and key_values(light)["refDevice"] == [device["id"]]


def test_device_states_and_missing_location():
    [pending] = device_entities({**RECORD, "role": "sensor", "state": "pending", "location": None})
    assert key_values(pending)["deviceState"] == "pending" and "location" not in pending
    [_, broken] = device_entities({**RECORD, "health": {"faults": {"lamp": "open-circuit"}, "ext": {"dim": 40}}})
    assert broken["status"]["value"] == "defectiveLamp"
    assert broken["illuminanceLevel"]["value"] == 0.4 and broken["powerState"]["value"] == "on"


def test_bad_device_records_raise_a_mapping_error():
    with pytest.raises(MappingError, match="install_date"):
        device_entities({**RECORD, "install_date": "last spring"})
    with pytest.raises(MappingError, match="'id'"):
        device_entities({"role": "sensor"})
    with pytest.raises(MappingError, match="kind"):
        entities_for("status", RECORD)


def test_key_values_reduces_each_attribute_to_its_value():
    [entity] = observation_entities(observation([rec("temp", 12.5, "Cel")]))
    kv = key_values({**entity, "@context": ["x"]})
    assert kv["temperature"] == 12.5 and kv["refDevice"] == f"urn:ngsi-ld:Device:{NODE}"
    assert kv["location"] == {"type": "Point", "coordinates": [3.0573, 50.6292]} and "@context" not in kv
