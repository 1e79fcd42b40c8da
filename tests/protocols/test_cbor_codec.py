"""protocols.cbor: limits, special values, float widths and encoder errors."""

import math
import struct
import tracemalloc
from collections import OrderedDict

import cbor2
import pytest

from protocols import cbor


def test_errors_are_value_errors():
    assert issubclass(cbor.CBORDecodeError, ValueError)
    assert issubclass(cbor.CBOREncodeError, ValueError)


def test_every_float16_decodes_like_struct_and_encodes_back_in_three_bytes():
    for half in range(0x10000):
        raw = struct.pack(">H", half)
        value = cbor.loads(b"\xf9" + raw)
        expected = struct.unpack(">e", raw)[0]
        if math.isnan(expected):
            assert math.isnan(value)
            assert cbor.dumps(value) == b"\xf9\x7e\x00"
        else:
            assert value == expected and math.copysign(1, value) == math.copysign(1, expected)
            assert cbor.dumps(value) == b"\xf9" + raw


@pytest.mark.parametrize("value, head", [
    (2.0 ** -24, "f9"), (2.0 ** -25, "fa"), (1.0 + 2.0 ** -10, "f9"), (1.0 + 2.0 ** -11, "fa"),
    (65504.0, "f9"), (65536.0, "fa"), (2.0 ** -149, "fa"), (2.0 ** -150, "fb"),
    (1.0 + 2.0 ** -23, "fa"), (1.0 + 2.0 ** -24, "fb"), (3.4028234663852886e38, "fa"), (2.0 ** 128, "fb"),
    (1e-310, "fb"), (-2.5, "f9"), (0.1, "fb"),
])
def test_float_width_is_the_shortest_exact_one(value, head):
    encoded = cbor.dumps(value)
    assert encoded.hex().startswith(head)
    assert encoded == cbor2.dumps(value, canonical=True)
    assert cbor.loads(encoded) == value


def test_integers_at_width_boundaries_match_cbor2():
    for bound in (23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 64 - 1, 2 ** 64, 2 ** 100):
        for value in (bound, -bound, -bound - 1):
            encoded = cbor.dumps(value)
            assert encoded == cbor2.dumps(value, canonical=True), value
            decoded = cbor.loads(encoded)
            if -2 ** 64 <= value < 2 ** 64:
                assert decoded == value
            else:
                assert isinstance(decoded, cbor.Tag) and decoded.tag in (2, 3)
                assert cbor2.loads(encoded) == value


def test_map_keys_keep_insertion_order():
    assert cbor.dumps({"b": 1, "a": 2}) == bytes.fromhex("a2616201616102")
    assert cbor.dumps({10: 0, 1: 0}) == bytes.fromhex("a20a000100")


def test_map_type_builds_each_map():
    decoded = cbor.loads(bytes.fromhex("a1616aa1616b01"), map_type=OrderedDict)
    assert type(decoded) is OrderedDict and type(decoded["j"]) is OrderedDict


def test_tag_simple_and_undefined():
    tag = cbor.Tag(1, 1363896240)
    assert tag == cbor.Tag(1, 1363896240) and tag != cbor.Tag(0, 1363896240) and tag != 1363896240
    assert hash(tag) == hash(cbor.Tag(1, 1363896240))
    assert repr(tag) == "Tag(1, 1363896240)"
    assert cbor.loads(cbor.dumps(cbor.Tag(55799, [1, cbor.Tag(2, b"\x01")]))) == cbor.Tag(55799, [1, cbor.Tag(2, b"\x01")])
    assert cbor.loads(b"\xf7") is cbor.UNDEFINED and cbor.dumps(cbor.UNDEFINED) == b"\xf7"
    assert cbor.loads(b"\xf3") == cbor.Simple(19) and cbor.dumps(cbor.Simple(32)) == b"\xf8\x20"
    with pytest.raises(ValueError):
        cbor.Simple(24)


def test_bytes_like_inputs_decode():
    data = cbor.dumps([1, "two", b"3"])
    for form in (data, bytearray(data), memoryview(data)):
        assert cbor.loads(form) == [1, "two", b"3"]


def test_non_bytes_input_is_a_decode_error():
    with pytest.raises(cbor.CBORDecodeError):
        cbor.loads("a0")


def test_max_size():
    data = cbor.dumps("x" * 100)
    assert cbor.loads(data, max_size=len(data)) == "x" * 100
    with pytest.raises(cbor.CBORDecodeError, match="exceeds the limit"):
        cbor.loads(data, max_size=len(data) - 1)


def test_max_depth_counts_arrays_maps_and_tags():
    nested = b"\x81" * 10 + b"\x00"
    assert cbor.loads(nested, max_depth=10) is not None
    with pytest.raises(cbor.CBORDecodeError, match="nesting deeper than 9"):
        cbor.loads(nested, max_depth=9)
    with pytest.raises(cbor.CBORDecodeError):
        cbor.loads(b"\xa1\x00" * 5 + b"\x00", max_depth=4)
    with pytest.raises(cbor.CBORDecodeError):
        cbor.loads(b"\xc1" * 5 + b"\x00", max_depth=4)
    with pytest.raises(cbor.CBORDecodeError):
        cbor.loads(b"\x9f" * 5 + b"\xff" * 5, max_depth=4)


def test_default_depth_limit_is_reached_before_the_interpreter_stack():
    assert cbor.loads(b"\x81" * cbor.DEFAULT_MAX_DEPTH + b"\x00") is not None
    with pytest.raises(cbor.CBORDecodeError):
        cbor.loads(b"\x81" * 100000 + b"\x00", max_depth=10 ** 9)


def test_max_items():
    data = cbor.dumps(list(range(10)))
    assert cbor.loads(data, max_items=11) == list(range(10))
    with pytest.raises(cbor.CBORDecodeError, match="more than 10 items"):
        cbor.loads(data, max_items=10)
    with pytest.raises(cbor.CBORDecodeError):
        cbor.loads(b"\x9f" + b"\x00" * 20 + b"\xff", max_items=10)


def test_declared_lengths_beyond_the_input_allocate_nothing():
    hostile = [bytes.fromhex("5bffffffffffffff00"), bytes.fromhex("9b00000000ffffffff00"),
               bytes.fromhex("bb00000000ffffffff00"), bytes.fromhex("7a7fffffff41")]
    tracemalloc.start()
    try:
        for data in hostile:
            with pytest.raises(cbor.CBORDecodeError, match="truncated"):
                cbor.loads(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


def test_duplicate_and_unhashable_keys():
    with pytest.raises(cbor.CBORDecodeError, match="duplicate"):
        cbor.loads(bytes.fromhex("a2616101616102"))
    with pytest.raises(cbor.CBORDecodeError, match="unhashable"):
        cbor.loads(bytes.fromhex("a1a00000"))


@pytest.mark.parametrize("value", [{1, 2}, object(), 1j, cbor.Tag(-1, 0), cbor.Tag(2 ** 64, 0)])
def test_unencodable_objects(value):
    with pytest.raises(cbor.CBOREncodeError):
        cbor.dumps(value)


def test_self_containing_list_is_an_encode_error():
    loop = []
    loop.append(loop)
    with pytest.raises(cbor.CBOREncodeError):
        cbor.dumps(loop)


def test_subclasses_of_builtin_types_encode_as_their_base():
    import enum

    class Channel(enum.IntEnum):
        DATA = 4

    class Name(str):
        pass

    assert cbor.dumps({Channel.DATA: Name("x")}) == cbor.dumps({4: "x"})
    assert cbor.dumps((1, 2)) == cbor.dumps([1, 2])
