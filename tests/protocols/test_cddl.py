"""protocols/schema.cddl, the normative contract, against the golden message vectors.

Two CDDL validators from PyPI check every vector: pycddl (cddl-rs) and cddl-verifier (pure Python).
cddl-verifier implements RFC 8610 closely (closed maps inside arrays, group choices, float widths,
whole-string `.regexp`), so it must agree with every vector. pycddl 0.6.4 has known gaps, listed in
PYCDDL_GAPS: a listed vector is an expected failure, and a strict one, so a fixed pycddl shows up.
"""

import json
import re
from functools import lru_cache
from pathlib import Path

import cbor2
import pycddl
import pytest
from cddl_verifier import Validator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import messages, senml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_TEXT = (ROOT / "protocols" / "schema.cddl").read_text(encoding="utf-8")
VECTORS = json.loads((ROOT / "protocols" / "vectors" / "messages.json").read_text(encoding="utf-8"))
VALID = [case for case in VECTORS if "error" not in case]
INVALID = [case for case in VECTORS if "error" in case]

# Invalid vectors pycddl 0.6.4 accepts, and why.
PYCDDL_GAPS = {
    "data-record-base-name": "closed maps are not enforced inside arrays",
    "data-record-two-values": "a group choice inside a map accepts keys of two alternatives",
    "data-record-no-value": "a group choice inside a map inside an array is not enforced",
    "data-record-nan": "a group-choice member inside an array is not type-checked",
    "data-record-infinity": "a group-choice member inside an array is not type-checked",
    "data-record-text-value": "a group-choice member inside an array is not type-checked",
    "data-time-two-elements": "an array type choice inside a group is not length-checked",
    "cmd-reboot-with-args": "an empty map type `{ }` accepts any map",
}


def _anchored_regexps(text):
    # RFC 8610 .regexp matches the whole string (XSD); cddl-rs searches, so anchor each pattern for it.
    return re.sub(r'\.regexp "((?:[^"\\]|\\.)*)"', lambda m: '.regexp "^(?:%s)$"' % m.group(1), text)


@lru_cache(maxsize=None)
def pycddl_schema(rule):
    return pycddl.Schema("reverbere-root = %s\n" % rule + _anchored_regexps(SCHEMA_TEXT))


@lru_cache(maxsize=None)
def verifier():
    return Validator(SCHEMA_TEXT)


def pycddl_accepts(rule, encoded):
    try:
        pycddl_schema(rule).validate_cbor(encoded)
    except pycddl.ValidationError:
        return False
    return True


def verifier_problems(rule, encoded):
    result = verifier().validate(encoded, root_type=rule)
    return [diagnostic.message for diagnostic in result.diagnostics] if not result.valid else []


def case_id(case):
    return case["name"]


@pytest.mark.parametrize("case", VALID, ids=case_id)
def test_valid_vector_matches_the_schema_in_both_validators(case):
    encoded = bytes.fromhex(case["hex"])
    assert verifier_problems(case["channel"], encoded) == []
    assert pycddl_accepts(case["channel"], encoded)
    assert verifier_problems("message", encoded) == []


def _invalid_params():
    params = []
    for case in INVALID:
        marks = ()
        if case["name"] in PYCDDL_GAPS:
            marks = pytest.mark.xfail(strict=True, reason="pycddl: " + PYCDDL_GAPS[case["name"]])
        params.append(pytest.param(case, marks=marks, id=case["name"]))
    return params


@pytest.mark.parametrize("case", _invalid_params())
def test_invalid_vector_is_rejected_by_pycddl(case):
    assert not pycddl_accepts(case["channel"], bytes.fromhex(case["hex"]))


def test_pycddl_gaps_name_real_vectors():
    assert set(PYCDDL_GAPS) <= {case["name"] for case in INVALID}


def test_every_channel_has_a_rule_and_vectors_both_ways():
    for channel in messages.CHANNELS:
        assert re.search(r"^%s = " % channel, SCHEMA_TEXT, re.M), channel
        assert any(case["channel"] == channel for case in VALID), channel
        assert any(case["channel"] == channel for case in INVALID), channel


def test_key_rules_match_the_constants_of_messages_py():
    rules = dict(re.findall(r"^([kl]-[a-z0-9-]+) = (-?\d+)$", SCHEMA_TEXT, re.M))
    assert len(rules) == 45
    for rule, number in rules.items():
        prefix, name = rule.split("-", 1)
        constant = ("L_" if prefix == "l" else "") + name.replace("-", "_").upper()
        assert getattr(messages, constant) == int(number), rule


def test_op_rules_match_the_op_table_of_messages_py():
    ops = re.findall(r'k-op => "([a-z-]+)"', SCHEMA_TEXT)
    assert tuple(ops) == messages.OPS


@pytest.mark.parametrize("rule,args,valid", [
    ("dim-args", {"level": 0}, True),
    ("dim-args", {"level": 100}, True),
    ("dim-args", {"level": 101}, False),
    ("dim-args", {"level": 50, "fade_s": 2}, False),
    ("period-args", {"s": 1}, True),
    ("period-args", {"s": 0}, False),
    ("identify-args", {"s": 3601}, False),
    ("schedule-args", {"points": []}, True),
    ("schedule-args", {"points": [[1439, 0]]}, True),
    ("schedule-args", {"points": [[60, 101]]}, False),
    ("lifi-message-args", {"text": "x" * 64}, True),
    ("lifi-message-args", {"text": "x" * 65}, False),
    ("lifi-message-args", {"text": ""}, False),
    ("config-args", {"period": 60}, True),
    ("config-args", {}, False),
])
def test_op_args_rules_agree_with_messages_py(rule, args, valid):
    op = rule[: -len("-args")]
    encoded = cbor2.dumps(args, canonical=True)
    assert (verifier_problems(rule, encoded) == []) is valid
    try:
        messages.validate("cmd", {messages.ID: 1, messages.OP: op, messages.ARGS: args})
    except messages.MessageError as error:
        assert error.reason == messages.BAD_ARGS
        assert not valid
    else:
        assert valid


def test_downlink_float_width_is_checked_on_the_wire():
    # Decoded values cannot show a float's width; the schema can. 0.5 fits a float16.
    float16 = cbor2.dumps({40: 1, 41: "config", 42: {"offset": 0.5}}, canonical=True)
    float64 = cbor2.dumps({40: 1, 41: "config", 42: {"offset": 0.5}}, canonical=False)
    assert b"\xf9\x38\x00" in float16 and b"\xfb" in float64
    assert verifier_problems("cmd", float16) != []
    assert verifier_problems("cmd", float64) == []
    # Uplinks may use any width.
    data = cbor2.dumps({1: 1, 2: 0, 3: 1763760000, 4: [{0: "temp", 2: 0.5}]}, canonical=True)
    assert b"\xf9\x38\x00" in data
    assert verifier_problems("data", data) == []


# ------------------------------------------------------------------------ random valid data messages

UINT = st.integers(min_value=0, max_value=2 ** 64 - 1)
finite = st.floats(allow_nan=False, allow_infinity=False)
number = st.one_of(st.integers(min_value=-2 ** 64, max_value=2 ** 64 - 1), finite)
name = st.one_of(st.sampled_from(sorted(senml.REGISTRY)),
                 st.from_regex(r"[A-Za-z0-9][-:./_A-Za-z0-9]{0,15}", fullmatch=True))
reading = st.one_of(
    st.fixed_dictionaries({messages.L_V: number}, optional={messages.L_S: number}),
    st.fixed_dictionaries({messages.L_VS: st.text(max_size=8)}, optional={messages.L_S: number}),
    st.fixed_dictionaries({messages.L_VB: st.booleans()}, optional={messages.L_S: number}),
    st.fixed_dictionaries({messages.L_VD: st.binary(max_size=8)}, optional={messages.L_S: number}),
    st.fixed_dictionaries({messages.L_S: number}),
)
record = st.builds(
    lambda base, value: {**base, **value},
    st.fixed_dictionaries({messages.L_N: name}, optional={
        messages.L_U: st.text(max_size=6), messages.L_T: number, messages.L_UT: number, messages.L_BVER: UINT,
        messages.L_BT: number, messages.L_BU: st.text(max_size=6), messages.L_BV: number}),
    reading,
)
rvb_time = st.one_of(
    st.integers(min_value=messages.SYNCED_TIME_MIN, max_value=messages.SYNCED_TIME_MAX),
    st.floats(min_value=messages.SYNCED_TIME_MIN, max_value=messages.SYNCED_TIME_MAX),
    st.builds(messages.unsynced, UINT),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(UINT, UINT, rvb_time, st.lists(record, min_size=1, max_size=4))
def test_random_valid_data_messages_pass_every_check(boot, seq, time, pack):
    msg = messages.data(boot, seq, time, pack)
    encoded = cbor2.dumps(msg, canonical=True)
    assert verifier_problems("data", encoded) == []
    assert pycddl_accepts("data", encoded)
    decoded = cbor2.loads(encoded)
    assert messages.validate("data", decoded) is decoded
    assert messages.validate_data(decoded) is decoded
