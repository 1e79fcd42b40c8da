"""protocols.senml: RFC 8428 resolution, builders and the quantity registry."""

import math

import pytest
from vector_support import case_id, load, same, to_value

from protocols import cbor, senml

CASES = load("senml.json")


@pytest.mark.parametrize("case", [case for case in CASES if "error" not in case], ids=case_id)
def test_vector_resolves(case):
    pack = cbor.loads(bytes.fromhex(case["hex"]))
    assert same(pack, to_value(case["value"]))
    assert same(senml.resolve(pack, case.get("base_time")), to_value(case["resolved"]))


@pytest.mark.parametrize("case", [case for case in CASES if "error" in case], ids=case_id)
def test_invalid_vector_is_rejected(case):
    with pytest.raises(ValueError):
        senml.resolve(cbor.loads(bytes.fromhex(case["hex"])))


def test_rfc8428_multiple_measurements_resolve_to_absolute_times():
    case = next(case for case in CASES if case["name"] == "rfc8428-multiple-measurements")
    records = senml.resolve(cbor.loads(bytes.fromhex(case["hex"])))
    assert [record["n"] for record in records][:2] == ["urn:dev:ow:10e2073a0108006:voltage",
                                                      "urn:dev:ow:10e2073a0108006:current"]
    assert records[0]["u"] == "V" and records[1]["u"] == "A"
    assert records[1]["t"] == pytest.approx(1276020071.001, abs=1e-6)
    assert records[-1]["t"] == pytest.approx(1276020076.001, abs=1e-6)


def test_error_names_the_reason_and_the_record():
    with pytest.raises(ValueError, match=r"record 1: more than one value \(v, vs\)"):
        senml.resolve([{0: "a", 2: 1}, {0: "b", 2: 1, 3: "x"}])
    with pytest.raises(ValueError, match="bver 11 differs"):
        senml.resolve([{-1: 10, 0: "a", 2: 1}, {-1: 11, 0: "b", 2: 2}])


def test_builders_emit_canonical_integer_labels():
    pack = senml.pack([senml.record("temp", 21.5, unit="Cel", time=-60), senml.record("lamp", True)],
                      base_name="lamp-12:", base_time=1763750000)
    assert list(pack[0]) == [senml.N, senml.U, senml.V, senml.T, senml.BN, senml.BT]
    assert pack[1] == {senml.N: "lamp", senml.VB: True}
    assert senml.record("x", "on") == {0: "x", 3: "on"}
    assert senml.record("x", b"\x01") == {0: "x", 8: b"\x01"}
    with pytest.raises(ValueError):
        senml.record("x")
    with pytest.raises(ValueError):
        senml.pack([])


@pytest.mark.parametrize("name", sorted(senml.REGISTRY))
def test_registry_entry_is_consistent(name):
    unit, resolution, low, high, description = senml.REGISTRY[name]
    senml.check_name(name)
    assert unit and description and low < high
    # The resolution is a power of two, so quantised values are short exact floats.
    mantissa, _ = math.frexp(resolution)
    assert mantissa == 0.5


@pytest.mark.parametrize("name", sorted(senml.REGISTRY))
def test_quantise_lands_on_the_resolution_grid_within_half_a_step(name):
    _, resolution, low, high, _ = senml.REGISTRY[name]
    for raw in (low, high, (low + high) / 3, low + 0.3 * resolution, high - 0.7 * resolution):
        value = senml.quantise(name, raw)
        assert abs(value - raw) <= resolution / 2
        assert (value / resolution).is_integer()


def test_quantised_values_encode_as_short_floats():
    assert len(cbor.dumps(senml.quantise("temp", 21.53))) == 3
    assert len(cbor.dumps(senml.quantise("hum", 54.47))) == 3
    assert len(cbor.dumps(senml.quantise("pres", 101325.4))) == 5
    assert len(cbor.dumps(senml.quantise("vbat", 3.7))) <= 5


def test_check_range_and_type():
    assert senml.check("temp", 21.5) == 21.5
    with pytest.raises(ValueError, match="outside"):
        senml.check("hum", 101)
    with pytest.raises(ValueError, match="number"):
        senml.check("temp", "21")
    with pytest.raises(ValueError, match="unknown quantity"):
        senml.check("colour", 1)


def test_names_follow_rfc8428_section_4_5_1():
    for good in ("temp", "urn:dev:mac:0024befffe804ff1/temp", "a_b.c-d"):
        senml.check_name(good)
    for bad in ("", "-x", "_x", "a b", "é"):
        with pytest.raises(ValueError):
            senml.check_name(bad)
