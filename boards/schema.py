"""JSON Schema (draft 2020-12) of a board file's structure: types, ranges, known keys and parts.
Cross-field rules (pins per chip, conflicts, bus references) are checked by the loader."""

from boards.parts import PARTS
from protocols.lifi.modes import MODES

_LIFI_MODE = {"enum": [m.name for m in MODES if m.modulation == "ook"]}  # low chip rates: OOK only

_GPIO = {"type": "integer", "minimum": 0, "maximum": 48}
_BUS_ID = {"type": "string", "pattern": "^[0-9]$"}
_LINK_KEYS = {"i2c": ("bus", "addr"), "uart": ("uart",), "adc": ("adc",), "pin": ("pin",)}
_LINK_SCHEMAS = {"bus": {"type": "integer", "minimum": 0, "maximum": 9},
                 "addr": {"type": "integer", "minimum": 0x08, "maximum": 0x77},
                 "uart": {"type": "integer", "minimum": 0, "maximum": 9},
                 "adc": _GPIO, "pin": _GPIO}


def _part_rule(part):
    keys = _LINK_KEYS[part.link]
    props = {"part": {"const": part.name}}
    props.update({k: _LINK_SCHEMAS[k] for k in keys})
    props.update(part.options)
    return {"if": {"properties": {"part": {"const": part.name}}, "required": ["part"]},
            "then": {"properties": props, "required": list(keys), "additionalProperties": False}}


def _table(props, required=()):
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}


SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["board"],
    "additionalProperties": False,
    "properties": {
        "board": _table({
            "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,31}$"},
            "description": {"type": "string"},
            "chip": {"enum": ["esp32", "esp32c3", "esp32s3"]},
            "flash_offset": {"type": "integer", "minimum": 0},
            "flash_size": {"enum": ["2MB", "4MB", "8MB", "16MB"]},
            "role": {"enum": ["sensor", "luminaire", "lifi-rx"]},
            "furniture": {"enum": ["bench", "bus-shelter", "kiosk", "bin", "lamp-post"]},
        }, ("name", "chip", "flash_offset", "flash_size", "role", "furniture")),
        "i2c": {"type": "object", "propertyNames": _BUS_ID, "additionalProperties": _table({
            "scl": _GPIO, "sda": _GPIO,
            "freq": {"type": "integer", "minimum": 10000, "maximum": 1000000},
        }, ("scl", "sda"))},
        "uart": {"type": "object", "propertyNames": _BUS_ID, "additionalProperties": _table({
            "tx": _GPIO, "rx": _GPIO,
            "baudrate": {"type": "integer", "minimum": 1200, "maximum": 921600},
        }, ("tx", "rx", "baudrate"))},
        "sensor": {"type": "array", "items": {
            "type": "object", "required": ["part"],
            "properties": {"part": {"enum": sorted(PARTS)}},
            "allOf": [_part_rule(p) for p in PARTS.values()],
        }},
        "led": _table({
            "pin": _GPIO,
            "channel": {"type": "integer", "minimum": 0, "maximum": 7},
            "freq": {"type": "integer", "minimum": 100, "maximum": 40000},
            "min_level": {"type": "number", "minimum": 0, "maximum": 100},
        }, ("pin", "channel", "freq")),
        "lifi_tx": _table({
            "rmt_channel": {"type": "integer", "minimum": 0, "maximum": 7},
            "pin": _GPIO,
            "chip_rate": {"type": "integer", "minimum": 100, "maximum": 10000000},
            "mode": _LIFI_MODE,
        }, ("rmt_channel", "pin", "chip_rate")),
        "photodiode": _table({
            "adc": _GPIO,
            "chip_rate": {"type": "integer", "minimum": 100, "maximum": 100000},
            "samples_per_chip": {"type": "integer", "minimum": 2, "maximum": 16},
            "burst": {"type": "integer", "minimum": 64, "maximum": 8192},
            "pause_s": {"type": "number", "minimum": 0, "maximum": 60},
            "mode": _LIFI_MODE,
        }, ("adc", "chip_rate", "samples_per_chip")),
        "lighting": _table({
            "safe_level": {"type": "number", "minimum": 0, "maximum": 100},
            "gateway_timeout_s": {"type": "number", "minimum": 1},
            "dark_lux": {"type": "number", "minimum": 0},
            "day_lux": {"type": "number", "minimum": 0},
            "nominal_w": {"type": "number", "exclusiveMinimum": 0},
            "utc_offset_min": {"type": "integer", "minimum": -720, "maximum": 840},
            "schedule": {"type": "array", "maxItems": 24, "items": {
                "type": "array", "minItems": 2, "maxItems": 2,
                "prefixItems": [{"type": "integer", "minimum": 0, "maximum": 1439},
                                {"type": "number", "minimum": 0, "maximum": 100}]}},
        }),
    },
}
