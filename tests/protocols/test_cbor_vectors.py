"""protocols/vectors/cbor.json under CPython, checked against protocols.cbor and cbor2."""

import json

import cbor2
import pytest
from vector_support import case_id, load, same, to_value

from protocols import cbor

CASES = load("cbor.json")
VALID = [case for case in CASES if "error" not in case]
MALFORMED = [case for case in CASES if "error" in case]


def test_vector_file_covers_rfc_appendix_and_errors():
    assert len([case for case in VALID if case["name"].startswith("rfc8949-")]) >= 80
    assert len(MALFORMED) >= 40
    assert len({case["name"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", VALID, ids=case_id)
def test_decodes_to_value(case):
    assert same(cbor.loads(bytes.fromhex(case["hex"])), to_value(case["value"]))


@pytest.mark.parametrize("case", [case for case in VALID if not case.get("decode_only")], ids=case_id)
def test_value_encodes_to_hex(case):
    assert cbor.dumps(to_value(case["value"])).hex() == case["hex"]


def from_cbor2(value):
    """cbor2's decoded form in this codec's terms (tags excluded: cbor2 interprets them)."""
    if value is cbor2.undefined:
        return cbor.UNDEFINED
    if isinstance(value, cbor2.CBORSimpleValue):
        return cbor.Simple(value.value)
    if isinstance(value, list):
        return [from_cbor2(item) for item in value]
    if isinstance(value, dict):
        return {key: from_cbor2(item) for key, item in value.items()}
    return value


@pytest.mark.parametrize("case", [case for case in VALID if "$tag" not in json.dumps(case["value"])], ids=case_id)
def test_cbor2_decodes_the_same_value(case):
    assert same(from_cbor2(cbor2.loads(bytes.fromhex(case["hex"]))), to_value(case["value"]))


@pytest.mark.parametrize("case", MALFORMED, ids=case_id)
def test_malformed_input_is_rejected(case):
    with pytest.raises(cbor.CBORDecodeError):
        cbor.loads(bytes.fromhex(case["hex"]))
