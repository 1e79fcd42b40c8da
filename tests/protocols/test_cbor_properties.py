"""Property tests of protocols.cbor over nested values, against itself and against cbor2."""

import cbor2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vector_support import same

from protocols import cbor

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none() | st.booleans()
    | st.integers(min_value=-(2 ** 64), max_value=2 ** 64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(width=32) | st.floats(width=16)
    | st.text(max_size=20) | st.binary(max_size=20)
)
keys = st.integers(min_value=-(2 ** 64), max_value=2 ** 64 - 1) | st.text(max_size=8)


def containers(children):
    return st.lists(children, max_size=6) | st.dictionaries(keys, children, max_size=6)


values = st.recursive(scalars, containers, max_leaves=30)


def canonical_key_order(value):
    """The same value with every map's keys in canonical order (encoded length, then bytes)."""
    if isinstance(value, list):
        return [canonical_key_order(item) for item in value]
    if isinstance(value, dict):
        ordered = sorted(value, key=lambda key: (len(cbor2.dumps(key)), cbor2.dumps(key)))
        return {key: canonical_key_order(value[key]) for key in ordered}
    return value


@SETTINGS
@given(values)
def test_round_trip(value):
    assert same(cbor.loads(cbor.dumps(value)), value)


@SETTINGS
@given(values)
def test_byte_for_byte_equal_to_cbor2_canonical(value):
    value = canonical_key_order(value)
    assert cbor.dumps(value) == cbor2.dumps(value, canonical=True)


@SETTINGS
@given(values)
def test_cbor2_decodes_our_output(value):
    assert same(cbor2.loads(cbor.dumps(value)), value)


@SETTINGS
@given(values, st.sampled_from([{}, {"canonical": True}, {"indefinite_containers": True}]))
def test_decodes_cbor2_output_in_every_mode(value, options):
    value = canonical_key_order(value)  # canonical mode sorts keys; the comparison minds their order
    assert same(cbor.loads(cbor2.dumps(value, **options)), value)


@SETTINGS
@given(st.lists(st.text(max_size=10), max_size=4), st.lists(st.binary(max_size=10), max_size=4))
def test_indefinite_strings_from_chunks(texts, raws):
    data = b"\x7f" + b"".join(cbor.dumps(text) for text in texts) + b"\xff"
    assert cbor.loads(data) == "".join(texts)
    data = b"\x5f" + b"".join(cbor.dumps(chunk) for chunk in raws) + b"\xff"
    assert cbor.loads(data) == b"".join(raws)


def decode_or_reject(data):
    """Only CBORDecodeError may escape the decoder."""
    try:
        cbor.loads(data)
    except cbor.CBORDecodeError:
        pass


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_only_raise_decode_errors(data):
    decode_or_reject(data)


@settings(max_examples=400, deadline=None)
@given(values, st.data())
def test_mutated_encodings_only_raise_decode_errors(value, data):
    encoded = bytearray(cbor.dumps(value))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        position = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
        encoded[position] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded)))
    decode_or_reject(bytes(encoded[:cut]))
    decode_or_reject(bytes(encoded))


@settings(max_examples=200, deadline=None)
@given(values)
def test_every_truncation_is_rejected(value):
    encoded = cbor.dumps(value)
    for cut in range(len(encoded)):
        try:
            cbor.loads(encoded[:cut])
        except cbor.CBORDecodeError:
            continue
        raise AssertionError("accepted a truncation at %d of %s" % (cut, encoded.hex()))
