"""Write protocols/vectors/messages.json: golden valid and invalid messages of every channel.

    python tools/make_message_vectors.py [--check]

The hex of every case is cbor2's canonical encoding of its value (map keys put in canonical order first,
so the JSON value lists them in wire order). ``--check`` compares with the file instead of writing it
and exits 1 when they differ. Each valid case is checked with protocols.messages.validate before it is
written and each invalid case must be rejected with the reason it names; the tests then hold the file
against both CDDL validators, cbor2 and protocols.cbor.
"""

import argparse
import json
import math
import sys
from pathlib import Path

import cbor2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protocols import messages as m  # noqa: E402

OUTPUT = ROOT / "protocols" / "vectors" / "messages.json"

T0 = 1763760000  # 2025-11-21T21:20:00Z
CFG = bytes.fromhex("9f86d081884c7d65")
FIRMWARE_SHA256 = bytes.fromhex("2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae")


# Readings as the firmware sends them: values quantised to the resolution of protocols/senml.py's
# registry (temp and hum 1/16, pres 1, lux, pm25 and pm10 1/4), written out so that the golden file does
# not move when the registry does.
UNITS = {"temp": "Cel", "hum": "%RH", "pres": "Pa", "lux": "lx", "pm25": "ug/m3", "pm10": "ug/m3"}


def reading(name, value):
    return {0: name, 1: UNITS[name], 2: value}


TYPICAL_PACK = [
    reading("temp", 18.3125), reading("hum", 62.375), reading("pres", 101325.0),
    reading("lux", 12345.75), reading("pm25", 8.25), reading("pm10", 14.5),
]
SENSOR_CAPS = [[name, UNITS[name], 300] for name in ("temp", "hum", "pres", "lux", "pm25", "pm10")]
SENSOR_HW = {"chip": "esp32", "rev": 3, "mac": "24:0a:c4:12:34:56", "flash": 4194304}


def header(seq, time=T0, boot=42):
    return {1: boot, 2: seq, 3: time}


def with_(base, changes):
    """``base`` with the keys of ``changes`` replaced, or removed where the new value is ``DROP``."""
    out = dict(base)
    for key, value in changes.items():
        if value is DROP:
            del out[key]
        else:
            out[key] = value
    return out


DROP = object()

BIRTH = {**header(1234), 10: "sensor", 11: "esp32-devkitc", 12: SENSOR_HW, 13: "0.1.0", 14: SENSOR_CAPS,
         15: CFG, 16: "power-on", 17: False, 24: 0, 25: 0}
DATA = {**header(1234), 4: TYPICAL_PACK}
STATUS = {**header(57), 20: 86400, 21: 81234, 22: 29870, 23: -67, 24: 0, 25: 2,
          26: {"sps30": "nack"}, 27: 300, 28: {}}
EVT = {**header(3), 30: "sensor-fault", 31: {"part": "sps30", "reason": "nack"}}
ACK = {**header(9), 40: 17, 43: "ok"}
OTA = {40: 18, 45: "https://fw.reverbere.example/sensor/0.2.0.bin", 46: FIRMWARE_SHA256, 47: 1441792,
       48: "0.2.0"}

VALID = [
    ("birth-sensor", "birth", BIRTH,
     "sensor node birth after power-on with a synced clock: hardware, firmware, six quantities every 300 s, "
     "config hash, nothing buffered; seq 1234 is the next data sequence number"),
    ("birth-luminaire-safe-mode", "birth",
     {**header(0, [1520], boot=7), 10: "luminaire", 11: "esp32-c3-lamp", 12: {"chip": "esp32c3", "rev": 4},
      13: "0.1.0", 14: [["power", "W", 60], ["energy", "Wh", 900], ["dim", "%", 60]], 15: CFG,
      16: "watchdog", 17: True, 24: 3, 25: 12},
     "luminaire birth 1.52 s after a watchdog reset, clock not yet synced, in safe mode; "
     "3 readings dropped since first boot, 12 still buffered"),
    ("birth-lifi-rx-no-caps", "birth",
     {**header(0), 10: "lifi-rx", 11: "esp32-s3-rx", 12: {}, 13: "0.1.0-dev", 14: [], 15: CFG,
      16: "unknown", 17: False, 24: 0, 25: 0},
     "LiFi receiver birth with no hardware details and no measured quantity"),
    ("death", "death", {1: 42}, "the will of boot 42"),
    ("data-sensor-typical", "data", DATA,
     "the typical sensor message: six quantised readings (temp, hum, pres, lux, pm25, pm10) observed at "
     "2025-11-21T21:20:00Z"),
    ("data-unsynced", "data", {**header(0, [61234]), 4: [reading("temp", 4.0625)]},
     "one reading taken 61.234 s after boot 42, wall clock unknown"),
    ("data-float-time", "data", {**header(5, T0 + 0.25), 4: [{0: "noise", 1: "dB", 2: 54.625}]},
     "a reading time with a fraction of a second (float64 seconds)"),
    ("data-senml-fields", "data",
     {**header(6), 4: [
         {0: "temp", 2: 0.5, 6: -600, -1: 10, -3: -300, -4: "Cel", -5: 12.0},
         {0: "temp", 2: 0.25, 6: -300},
         {0: "presence", 1: "count", 5: 1534},
         {0: "lamp", 3: "on", 7: 900},
         {0: "door-open", 4: False},
         {0: "beacon", 8: bytes.fromhex("a1b2c3d4")},
         {0: "energy", 1: "Wh", 2: 3.5, 5: 12345.5},
     ]},
     "base version, time, unit and value (temp 12.5 Cel at T0-900 s and 12.25 Cel at T0-600 s), a sum-only "
     "record, string, boolean and data values, an update time, a value with a sum"),
    ("data-large-counters", "data",
     {**header(2 ** 64 - 1, 4294967295, boot=2 ** 32), 4: [{0: "lifi", 1: "count", 2: -5, 6: 0}]},
     "the largest seq and time, a boot counter past 32 bits and a negative integer value"),
    ("status-sensor", "status", STATUS,
     "sensor status after a day up: heap, Wi-Fi RSSI, nothing dropped, 2 readings buffered, the SPS30 "
     "particulate sensor does not acknowledge on I2C"),
    ("status-luminaire", "status",
     {**header(12, [3600500], boot=7), 20: 3600, 21: 120000, 22: 40000, 23: -81, 24: 3, 25: 0, 26: {},
      27: 60, 28: {"dim": 80, "lamp": "on"}},
     "luminaire status with an unsynced clock: lamp on at 80 %"),
    ("evt-sensor-fault", "evt", EVT, "the SPS30 stopped answering"),
    ("evt-lifi-beacon", "evt",
     {**header(4), 30: "lifi-beacon", 31: {"beacon": bytes.fromhex("0102a1b2c3d4e5f60708"), "snr_db": 17.5,
                                           "errors": 0}},
     "a receiver decoded a luminaire's location beacon"),
    ("evt-config-changed-no-detail", "evt", {**header(5), 30: "config-changed", 31: None},
     "configuration changed; no detail"),
    ("ack-ok", "ack", ACK, "command 17 done"),
    ("ack-bad-args-detail", "ack", {**header(10), 40: 19, 43: "bad-args", 44: "level must be 0..100"},
     "command 19 refused, with the reason"),
    ("cmd-reboot", "cmd", {40: 1, 41: "reboot"}, "reboot now"),
    ("cmd-rebirth-empty-args", "cmd", {40: 2, 41: "rebirth", 42: {}}, "publish a new birth (empty args)"),
    ("cmd-status", "cmd", {40: 3, 41: "status"}, "publish a status now"),
    ("cmd-period", "cmd", {40: 4, 41: "period", 42: {"s": 600}}, "report every 600 s"),
    ("cmd-identify", "cmd", {40: 5, 41: "identify", 42: {"s": 30}}, "blink or beep for 30 s"),
    ("cmd-config", "cmd",
     {40: 6, 41: "config", 42: {"temp_offset": -0.3, "site": "lille-fives", "sensors": ["bme280", "sps30"],
                                "tls": True}},
     "set four config keys (a float64 offset, text, an array and a bool)"),
    ("cmd-dim", "cmd", {40: 7, 41: "dim", 42: {"level": 40}}, "dim the lamp to 40 %"),
    ("cmd-schedule", "cmd", {40: 8, 41: "schedule", 42: {"points": [[0, 30], [360, 100], [1320, 60]]}},
     "night schedule: 30 % from midnight, 100 % from 06:00, 60 % from 22:00"),
    ("cmd-lifi-message", "cmd",
     {40: 9, 41: "lifi-message", 42: {"text": "Marché de Fives : dimanche 8h-13h"}},
     "broadcast a short UTF-8 message in the lamp's light"),
    ("ota", "ota", OTA, "update to firmware 0.2.0: image URL, SHA-256 and size"),
]

INVALID = [
    ("data-not-a-map", "data", [42, 1234, T0], m.NOT_A_MAP, "a payload that is an array"),
    ("data-missing-pack", "data", with_(DATA, {4: DROP}), m.MISSING_KEY, "no pack"),
    ("data-extra-key", "data", with_(DATA, {5: 1}), m.UNEXPECTED_KEY, "a key the contract does not define"),
    ("data-text-key", "data", {"boot": 42, 2: 1234, 3: T0, 4: TYPICAL_PACK}, m.UNEXPECTED_KEY,
     "a text key where the contract has key 1"),
    ("data-seq-text", "data", with_(DATA, {2: "1234"}), m.BAD_VALUE, "seq as text"),
    ("data-seq-negative", "data", with_(DATA, {2: -1}), m.BAD_VALUE, "negative seq"),
    ("data-boot-true", "data", with_(DATA, {1: True}), m.BAD_VALUE, "boot as CBOR true"),
    ("data-time-unset-clock", "data", with_(DATA, {3: 5}), m.BAD_VALUE,
     "time 5 s after 1970: a clock never set, sent as if synced"),
    ("data-time-two-elements", "data", with_(DATA, {3: [1, 2]}),
     m.BAD_VALUE, "unsynced form with two elements"),
    ("data-time-nan", "data", with_(DATA, {3: math.nan}), m.BAD_VALUE, "time NaN"),
    ("data-empty-pack", "data", with_(DATA, {4: []}), m.BAD_PACK, "a pack with no record"),
    ("data-record-no-name", "data", with_(DATA, {4: [{1: "Cel", 2: 18.3125}]}),
     m.BAD_PACK, "a record without n"),
    ("data-record-base-name", "data",
     with_(DATA, {4: [{0: "temp", 2: 18.3125, -2: "urn:dev:mac:240ac4123456:"}]}),
     m.BAD_PACK, "a base name (the node id belongs in the topic)"),
    ("data-record-bad-name", "data", with_(DATA, {4: [{0: "air temp", 2: 18.3125}]}), m.BAD_PACK,
     "a name with a space"),
    ("data-record-two-values", "data", with_(DATA, {4: [{0: "lamp", 2: 1, 3: "on"}]}), m.BAD_PACK,
     "a record with both v and vs"),
    ("data-record-no-value", "data", with_(DATA, {4: [{0: "temp", 1: "Cel"}]}), m.BAD_PACK,
     "a record with neither value nor sum"),
    ("data-record-nan", "data", with_(DATA, {4: [{0: "temp", 1: "Cel", 2: math.nan}]}), m.BAD_PACK,
     "a NaN reading"),
    ("data-record-infinity", "data", with_(DATA, {4: [{0: "lux", 1: "lx", 2: math.inf}]}), m.BAD_PACK,
     "an infinite reading"),
    ("data-record-json-labels", "data", with_(DATA, {4: [{"n": "temp", "u": "Cel", "v": 18.3125}]}),
     m.BAD_PACK,
     "SenML JSON labels instead of the CBOR integer labels"),
    ("data-record-text-value", "data", with_(DATA, {4: [{0: "temp", 1: "Cel", 2: "18.3"}]}), m.BAD_PACK,
     "v holding text"),
    ("birth-bad-role", "birth", with_(BIRTH, {10: "streetlight"}),
     m.BAD_VALUE, "a role the contract does not know"),
    ("birth-short-cfg", "birth", with_(BIRTH, {15: CFG[:7]}), m.BAD_VALUE, "a 7-byte config hash"),
    ("birth-missing-safe", "birth", with_(BIRTH, {17: DROP}), m.MISSING_KEY, "no safe flag"),
    ("birth-bad-cap", "birth", with_(BIRTH, {14: [["temp", "Cel"]]}),
     m.BAD_VALUE, "a capability without period"),
    ("death-extra-key", "death", {1: 42, 2: 0}, m.UNEXPECTED_KEY, "a death with a seq"),
    ("status-bad-fault", "status", with_(STATUS, {26: {"sps30": "broken"}}), m.BAD_VALUE,
     "a fault reason the contract does not know"),
    ("status-rssi-float", "status", with_(STATUS, {23: -67.5}), m.BAD_VALUE, "RSSI as a float"),
    ("evt-bad-kind", "evt", with_(EVT, {30: "Sensor Fault"}),
     m.BAD_VALUE, "an event kind with capitals and a space"),
    ("ack-bad-result", "ack", with_(ACK, {43: "done"}),
     m.BAD_VALUE, "an ack result the contract does not know"),
    ("cmd-missing-id", "cmd", {41: "reboot"}, m.MISSING_KEY, "a command without id"),
    ("cmd-unknown-op", "cmd", {40: 10, 41: "fly", 42: {"to": "moon"}},
     m.UNKNOWN_OP, "an op this version lacks"),
    ("cmd-dim-out-of-range", "cmd", {40: 11, 41: "dim", 42: {"level": 150}}, m.BAD_ARGS, "dim level 150 %"),
    ("cmd-dim-no-args", "cmd", {40: 12, 41: "dim"}, m.BAD_ARGS, "dim without a level"),
    ("cmd-reboot-with-args", "cmd", {40: 13, 41: "reboot", 42: {"delay": 5}}, m.BAD_ARGS,
     "reboot takes no args"),
    ("cmd-null-args", "cmd", {40: 16, 41: "status", 42: None}, m.BAD_ARGS, "args null instead of a map"),
    ("cmd-schedule-bad-minute", "cmd", {40: 14, 41: "schedule", 42: {"points": [[1440, 50]]}}, m.BAD_ARGS,
     "minute of day 1440"),
    ("cmd-tag-in-args", "cmd", {40: 15, 41: "config", 42: {"at": cbor2.CBORTag(1, T0)}}, m.BAD_ARGS,
     "a tag (epoch time) in a downlink"),
    ("ota-short-sha256", "ota", with_(OTA, {46: FIRMWARE_SHA256[:20]}), m.BAD_VALUE, "a 20-byte digest"),
    ("ota-ftp-url", "ota", with_(OTA, {45: "ftp://fw.reverbere.example/0.2.0.bin"}), m.BAD_VALUE,
     "an image URL that is not http(s)"),
]


def _key_order(key):
    encoded = cbor2.dumps(key, canonical=True)
    return (len(encoded), encoded)


def canonical(value):
    """``value`` with every map's keys in canonical CBOR order (RFC 7049 length-first, as cbor2)."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value, key=_key_order)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    if isinstance(value, cbor2.CBORTag):
        return cbor2.CBORTag(value.tag, canonical(value.value))
    return value


def to_json(value):
    """The vector-file form of a value (docs/wire-contract.md, "Test vectors")."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return {"$float": "nan"}
        if math.isinf(value):
            return {"$float": "inf" if value > 0 else "-inf"}
        return value
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, cbor2.CBORTag):
        return {"$tag": value.tag, "value": to_json(value.value)}
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value):
            return {key: to_json(item) for key, item in value.items()}
        return {"$map": [[to_json(key), to_json(item)] for key, item in value.items()]}
    raise TypeError("no vector form for %r" % (value,))


def build_cases():
    cases = []
    for name, channel, value, meaning in VALID:
        value = canonical(value)
        m.validate(channel, cbor2.loads(cbor2.dumps(value, canonical=True)))
        cases.append({"name": name, "channel": channel, "hex": cbor2.dumps(value, canonical=True).hex(),
                      "value": to_json(value), "meaning": meaning})
    for name, channel, value, reason, meaning in INVALID:
        encoded = cbor2.dumps(canonical(value), canonical=True)
        try:
            m.validate(channel, cbor2.loads(encoded))
        except m.MessageError as error:
            if error.reason != reason:
                raise SystemExit("%s: rejected as %s (%s), expected %s" % (name, error.reason, error, reason))
        else:
            raise SystemExit("%s: accepted, expected %s" % (name, reason))
        cases.append({"name": name, "channel": channel, "hex": encoded.hex(), "error": reason,
                      "meaning": meaning})
    return cases


def render(cases):
    return "[\n" + ",\n".join(json.dumps(case, ensure_ascii=False) for case in cases) + "\n]\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    args = parser.parse_args()
    text = render(build_cases())
    if args.check:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print("%s is out of date: run tools/make_message_vectors.py" % OUTPUT, file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print("wrote %s" % OUTPUT, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
