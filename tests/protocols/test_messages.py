"""protocols/messages.py: the golden vectors through both codecs, the builders, the checks, their errors."""

import json
import math
from pathlib import Path

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import cbor
from protocols import messages as m

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "protocols" / "vectors" / "messages.json").read_text(encoding="utf-8"))
VALID = [case for case in VECTORS if "error" not in case]
INVALID = [case for case in VECTORS if "error" in case]
BY_NAME = {case["name"]: case for case in VECTORS}
T0 = 1763760000


def from_json(spec):
    """A vector's JSON value as the Python value it stands for (docs/wire-contract.md, "Test vectors")."""
    if isinstance(spec, list):
        return [from_json(item) for item in spec]
    if isinstance(spec, dict):
        if "$bytes" in spec:
            return bytes.fromhex(spec["$bytes"])
        if "$map" in spec:
            return {from_json(key): from_json(value) for key, value in spec["$map"]}
        if "$float" in spec:
            return float(spec["$float"])
        if "$tag" in spec:
            return cbor2.CBORTag(spec["$tag"], from_json(spec["value"]))
        return {key: from_json(value) for key, value in spec.items()}
    return spec


def typed(value):
    """``value`` with the type of every item made explicit, so 1, 1.0 and True compare unequal."""
    if isinstance(value, dict):
        return ("map", [(typed(key), typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("array", [typed(item) for item in value])
    return (type(value).__name__, value)


def value_of(name):
    return from_json(BY_NAME[name]["value"])


def case_id(case):
    return case["name"]


# ------------------------------------------------------------------------------------------ vectors


@pytest.mark.parametrize("case", VALID, ids=case_id)
def test_valid_vector_decodes_to_its_value_with_both_codecs(case):
    encoded = bytes.fromhex(case["hex"])
    value = from_json(case["value"])
    assert typed(cbor2.loads(encoded)) == typed(value)
    assert typed(cbor.loads(encoded)) == typed(value)


@pytest.mark.parametrize("case", VALID, ids=case_id)
def test_valid_vector_hex_is_the_encoding_of_its_value_by_both_codecs(case):
    value = from_json(case["value"])
    assert cbor2.dumps(value, canonical=True).hex() == case["hex"]
    assert cbor.dumps(value).hex() == case["hex"]


@pytest.mark.parametrize("case", VALID, ids=case_id)
def test_valid_vector_passes_validate(case):
    for decoded in (cbor2.loads(bytes.fromhex(case["hex"])), cbor.loads(bytes.fromhex(case["hex"]))):
        assert m.validate(case["channel"], decoded) is decoded
        if case["channel"] == "data":
            assert m.validate_data(decoded) is decoded


@pytest.mark.parametrize("case", INVALID, ids=case_id)
def test_invalid_vector_is_rejected_with_its_reason(case):
    encoded = bytes.fromhex(case["hex"])
    for decoded in (cbor2.loads(encoded), cbor.loads(encoded)):
        with pytest.raises(m.MessageError) as caught:
            m.validate(case["channel"], decoded)
        assert caught.value.reason == case["error"]
        assert str(caught.value).startswith(case["channel"] + ": ")
        if case["channel"] == "data":
            with pytest.raises(m.MessageError) as fast:
                m.validate_data(decoded)
            assert (fast.value.reason, str(fast.value)) == (caught.value.reason, str(caught.value))


def test_vectors_cover_every_channel_and_reason():
    assert {case["channel"] for case in VALID} == set(m.CHANNELS)
    assert {case["error"] for case in INVALID} == {
        m.NOT_A_MAP, m.MISSING_KEY, m.UNEXPECTED_KEY, m.BAD_VALUE, m.BAD_PACK, m.UNKNOWN_OP, m.BAD_ARGS}
    assert len(BY_NAME) == len(VECTORS)
    cmd_ops = {from_json(case["value"])[m.OP] for case in VALID if case["channel"] == "cmd"}
    assert cmd_ops == set(m.OPS)


def test_vector_file_is_what_the_generator_writes():
    import subprocess
    import sys
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "make_message_vectors.py"), "--check"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


# ----------------------------------------------------------------------------------------- builders


def test_uplink_builders_make_the_golden_messages():
    birth = value_of("birth-sensor")
    built = m.birth(42, 1234, T0, "sensor", "esp32-devkitc", birth[m.HW], "0.1.0", birth[m.CAPS],
                    birth[m.CFG], "power-on", False, 0, 0)
    assert typed(built) == typed(birth)
    assert m.death(42) == value_of("death")
    typical = value_of("data-sensor-typical")
    assert typed(m.data(42, 1234, T0, typical[m.PACK])) == typed(typical)
    status = value_of("status-sensor")
    assert typed(m.status(42, 57, T0, 86400, 81234, 29870, -67, 0, 2, {"sps30": "nack"}, 300, {})) \
        == typed(status)
    assert typed(m.evt(42, 3, T0, "sensor-fault", {"part": "sps30", "reason": "nack"})) \
        == typed(value_of("evt-sensor-fault"))
    assert typed(m.evt(42, 5, T0, "config-changed")) == typed(value_of("evt-config-changed-no-detail"))
    assert typed(m.ack(42, 9, T0, 17, "ok")) == typed(value_of("ack-ok"))
    assert typed(m.ack(42, 10, T0, 19, "bad-args", "level must be 0..100")) \
        == typed(value_of("ack-bad-args-detail"))


def test_uplink_builders_output_validates_with_an_unsynced_time():
    uptime = m.unsynced(61234)
    for channel, msg in (
        ("birth", m.birth(7, 0, uptime, "lifi-rx", "esp32-s3-rx", {}, "0.1.0", [], b"\0" * 8, "soft",
                          False, 0, 0)),
        ("data", m.data(7, 0, uptime, [{m.L_N: "lifi", m.L_U: "count", m.L_V: 3}])),
        ("status", m.status(7, 1, uptime, 61, 90000, 20000, -70, 0, 0, {}, 60, {"decoded": 3, "errors": 0})),
        ("evt", m.evt(7, 0, uptime, "lifi-beacon", {"beacon": b"\x01\x02"})),
        ("ack", m.ack(7, 0, uptime, 5, "unknown-op")),
    ):
        assert m.validate(channel, msg) is msg


def test_downlink_builders_make_the_golden_messages_and_check_them():
    assert m.cmd(1, "reboot") == value_of("cmd-reboot")
    assert typed(m.cmd(7, "dim", {"level": 40})) == typed(value_of("cmd-dim"))
    ota = value_of("ota")
    assert typed(m.ota(18, ota[m.URL], ota[m.SHA256], 1441792, "0.2.0")) == typed(ota)
    with pytest.raises(m.MessageError) as caught:
        m.cmd(11, "dim", {"level": 150})
    assert str(caught.value) == "cmd: op dim arg 'level' must be an int in [0, 100], got int 150"
    assert caught.value.reason == m.BAD_ARGS
    with pytest.raises(m.MessageError) as caught:
        m.cmd(10, "fly")
    assert caught.value.reason == m.UNKNOWN_OP
    with pytest.raises(m.MessageError) as caught:
        m.ota(18, ota[m.URL], b"\0" * 31, 1441792, "0.2.0")
    assert caught.value.reason == m.BAD_VALUE


# ------------------------------------------------------------------------------------ time and errors


def test_synced_and_unsynced_time():
    assert m.unsynced(1520) == [1520]
    assert m.is_synced(T0) is True
    assert m.is_synced(T0 + 0.25) is True
    assert m.is_synced(m.unsynced(1520)) is False
    for bad in (5, -1, [1, 2], [-1], "2025-11-21T21:20:00Z", math.nan, True):
        with pytest.raises(m.MessageError):
            m.is_synced(bad)


def test_errors_name_the_channel_key_and_fault():
    typical = value_of("data-sensor-typical")
    cases = [
        ("data", {**typical, m.SEQ: "7"}, "data: key 2 (seq) must be uint, got str '7'"),
        ("data", {k: v for k, v in typical.items() if k != m.PACK}, "data: missing key 4 (pack)"),
        ("data", {**typical, 9: 0}, "data: unexpected key 9"),
        ("data", {**typical, m.PACK: [{m.L_N: "temp", m.L_V: "warm"}]},
         "data: key 4 (pack) record 0: label 2 (v) must be a finite number, got str 'warm'"),
        ("death", [42], "death: message must be a map, got list"),
        ("cmd", {m.ID: 3, m.OP: "reboot", m.ARGS: {"delay": 5}}, "cmd: op reboot takes no args"),
    ]
    for channel, msg, text in cases:
        with pytest.raises(m.MessageError) as caught:
            m.validate(channel, msg)
        assert str(caught.value) == text
        assert isinstance(caught.value, ValueError)
    with pytest.raises(m.MessageError) as caught:
        m.validate("telemetry", {})
    assert caught.value.reason == m.UNKNOWN_CHANNEL


def test_keys_equal_to_an_int_but_of_another_type_are_rejected():
    typical = value_of("data-sensor-typical")
    fake_boot = {True: 42, **{k: v for k, v in typical.items() if k != m.BOOT}}
    fake_label = {**typical, m.PACK: [{False: "temp", True: "Cel", 2.0: 18.3125}]}
    for msg, reason in ((fake_boot, m.UNEXPECTED_KEY), (fake_label, m.BAD_PACK)):
        for check in (lambda x: m.validate("data", x), m.validate_data):
            with pytest.raises(m.MessageError) as caught:
                check(msg)
            assert caught.value.reason == reason


# -------------------------------------------------------------------- fast path agrees with validate

labels = st.sampled_from([m.L_N, m.L_U, m.L_V, m.L_VS, m.L_S, m.L_T, m.L_BT, -2, 9, True, False, 2.0, "n"])
scalars = st.one_of(
    st.integers(min_value=-2 ** 65, max_value=2 ** 65), st.floats(), st.booleans(), st.none(),
    st.sampled_from(["temp", "Cel", "hum", "air temp", "", "%RH"]), st.binary(max_size=3),
)
records = st.one_of(
    st.fixed_dictionaries({m.L_N: st.sampled_from(["temp", "hum", "pm25", "x y"]), m.L_U: st.text(max_size=3),
                           m.L_V: st.one_of(st.floats(), st.integers(-2 ** 65, 2 ** 65))}),
    st.dictionaries(labels, scalars, max_size=4),
    scalars,
)
data_like = st.fixed_dictionaries(
    {m.BOOT: st.one_of(st.integers(-1, 2 ** 64), st.booleans()),
     m.SEQ: st.integers(-1, 2 ** 64 + 1),
     m.TIME: st.one_of(st.integers(0, 2 ** 33), st.floats(), st.lists(st.integers(-1, 2 ** 64), max_size=2)),
     m.PACK: st.one_of(st.lists(records, max_size=4), scalars)},
    optional={5: st.integers(), "1": st.integers()},
)


@settings(max_examples=300, deadline=None)
@given(data_like)
def test_fast_path_gives_the_same_answer_as_validate(msg):
    try:
        m.validate("data", msg)
    except m.MessageError as error:
        with pytest.raises(m.MessageError) as fast:
            m.validate_data(msg)
        assert (fast.value.reason, str(fast.value)) == (error.reason, str(error))
    else:
        assert m.validate_data(msg) is msg


def test_fast_path_settles_the_typical_messages_without_validate(monkeypatch):
    def no_fallback(channel, msg):
        raise AssertionError("validate_data fell back to validate")

    typical = cbor2.loads(bytes.fromhex(BY_NAME["data-sensor-typical"]["hex"]))
    unitless = {**typical, m.PACK: [{m.L_N: "lifi", m.L_V: 12}]}
    monkeypatch.setattr(m, "validate", no_fallback)
    assert m.validate_data(typical) is typical
    assert m.validate_data(unitless) is unitless
