"""The parts a board file may attach, with how each is connected and its valid addresses/options."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Part:
    name: str
    link: str                                  # "i2c", "uart", "adc" or "pin"
    addresses: frozenset[int] = frozenset()    # I2C addresses the part can strap to
    options: dict = field(default_factory=dict)  # option -> JSON-schema of its value
    roles: frozenset[str] = frozenset({"sensor", "luminaire", "lifi-rx"})


_POSITIVE = {"type": "number", "exclusiveMinimum": 0}

PARTS = {p.name: p for p in (
    Part("bme280", "i2c", frozenset({0x76, 0x77})),
    Part("sht3x", "i2c", frozenset({0x44, 0x45})),
    Part("bh1750", "i2c", frozenset({0x23, 0x5C})),
    Part("ina219", "i2c", frozenset(range(0x40, 0x50)),
         {"shunt_ohm": _POSITIVE, "max_current_a": {"type": "number", "exclusiveMinimum": 0, "maximum": 26}}),
    Part("pms5003", "uart", options={"spinup_s": {"type": "number", "minimum": 0, "maximum": 120}}),
    Part("noise", "adc", options={
        "kind": {"enum": ["envelope", "linear-db"]},
        "ref_v": _POSITIVE, "ref_db": {"type": "number", "minimum": 0, "maximum": 140},
        "db_per_v": _POSITIVE, "sample_hz": {"type": "number", "exclusiveMinimum": 0, "maximum": 100}}),
    Part("pir", "pin", options={"hold_ms": {"type": "integer", "minimum": 0, "maximum": 60000}}),
    Part("supply", "adc", options={"divider": {"type": "number", "minimum": 1, "maximum": 100}}),
)}
