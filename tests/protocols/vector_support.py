"""Reading protocols/vectors/*.json in CPython tests (the MicroPython side is tests/mpy/runner.py)."""

import json
import math
from pathlib import Path

from protocols import cbor

VECTORS = Path(__file__).resolve().parents[2] / "protocols" / "vectors"


def load(name):
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def case_id(case):
    return case["name"]


def to_value(spec):
    """The Python value a vector's JSON "value" stands for (docs/wire-contract.md, "Test vectors")."""
    if isinstance(spec, list):
        return [to_value(item) for item in spec]
    if isinstance(spec, dict):
        if "$bytes" in spec:
            return bytes.fromhex(spec["$bytes"])
        if "$tag" in spec:
            return cbor.Tag(spec["$tag"], to_value(spec["value"]))
        if "$float" in spec:
            return float(spec["$float"])
        if "$map" in spec:
            return {to_value(key): to_value(value) for key, value in spec["$map"]}
        if "$simple" in spec:
            return cbor.Simple(spec["$simple"])
        if "$undefined" in spec:
            return cbor.UNDEFINED
        return {key: to_value(value) for key, value in spec.items()}
    return spec


def same(got, want):
    """Typed equality: int, float and bool differ, -0.0 differs from 0.0, NaN equals NaN, map order counts."""
    if type(got) is not type(want):
        return False
    if isinstance(got, float):
        if math.isnan(got) or math.isnan(want):
            return math.isnan(got) and math.isnan(want)
        return got == want and math.copysign(1.0, got) == math.copysign(1.0, want)
    if isinstance(got, (list, tuple)):
        return len(got) == len(want) and all(same(a, b) for a, b in zip(got, want))
    if isinstance(got, dict):
        return list(got) == list(want) and all(same(got[key], want[key]) for key in got)
    if isinstance(got, cbor.Tag):
        return got.tag == want.tag and same(got.value, want.value)
    return got == want
