"""CBOR (RFC 8949) codec for the common subset of CPython and MicroPython.

The same module runs on the ESP32 nodes and in the gateway, so it avoids CPython-only modules and keeps
allocation low: decoding walks the input by offset and only copies what becomes a value; encoding
appends to one growing bytearray.

Encoding rules (byte-for-byte equal to ``cbor2.dumps(x, canonical=True)`` whenever map keys are already
in canonical order):
- integers in their shortest form; integers beyond 64 bits as bignum tags 2/3;
- floats as the shortest of float16/float32/float64 that holds the value exactly; NaN as f97e00;
- map keys in the dict's iteration order: insertion order on CPython, and on MicroPython insertion order
  only for ``collections.OrderedDict`` (a plain MicroPython dict iterates in hash order). Keys are never
  sorted, which keeps encoding cheap on the chip.

Decoding accepts all of RFC 8949 that is well-formed (definite and indefinite lengths, tags, simple
values, float16/32/64) and enforces limits given as keyword arguments, so hostile input can neither
hang the decoder nor make it allocate more than the input justifies. Maps with duplicate keys (not
valid CBOR, RFC 8949 §5.6) or with keys Python cannot hash (arrays, maps) are rejected.
"""

import struct
from math import ldexp

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

DEFAULT_MAX_SIZE = const(1048576)
DEFAULT_MAX_DEPTH = const(32)
DEFAULT_MAX_ITEMS = const(65536)

_BREAK = const(0xFF)
_INF = float("inf")
_NAN = float("nan")


class CBORDecodeError(ValueError):
    """The input is not well-formed CBOR, or exceeds a decode limit."""


class CBOREncodeError(ValueError):
    """The object holds something CBOR cannot represent here."""


class Tag:
    """A tagged item: ``tag`` number and the tagged ``value`` (bignums and epoch times stay tags)."""

    def __init__(self, tag, value):
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tag) and self.tag == other.tag and self.value == other.value

    def __hash__(self):
        return hash((self.tag, self.value))

    def __repr__(self):
        return "Tag(%d, %r)" % (self.tag, self.value)


class Simple:
    """A simple value other than false/true/null/undefined (RFC 8949 §3.3): 0..19 or 32..255."""

    def __init__(self, value):
        if not (0 <= value <= 19 or 32 <= value <= 255):
            raise ValueError("simple value %r is not assignable" % (value,))
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Simple) and self.value == other.value

    def __hash__(self):
        return hash(("simple", self.value))

    def __repr__(self):
        return "Simple(%d)" % self.value


class _Undefined:
    """Type of UNDEFINED; there is only one instance."""

    def __repr__(self):
        return "UNDEFINED"


UNDEFINED = _Undefined()


# ---------------------------------------------------------------------------------------------- decoding


def _half_to_float(half):
    exponent = (half >> 10) & 0x1F
    mantissa = half & 0x3FF
    if exponent == 0:
        value = ldexp(mantissa, -24)
    elif exponent == 31:
        value = _NAN if mantissa else _INF
    else:
        value = ldexp(mantissa + 1024, exponent - 25)
    return -value if half & 0x8000 else value


class _Decoder:
    def __init__(self, data, max_depth, max_items, map_type):
        self.data = data
        self.map_type = map_type
        self.end = len(data)
        self.pos = 0
        self.depth_left = max_depth
        self.items_left = max_items
        self.max_depth = max_depth
        self.max_items = max_items

    def fail(self, reason, at=None):
        raise CBORDecodeError("%s at offset %d" % (reason, self.pos if at is None else at))

    def need(self, count):
        # Checked before any slice or allocation so a hostile length never costs memory.
        if count > self.end - self.pos:
            self.fail("truncated input: %d bytes needed, %d left" % (count, self.end - self.pos))

    def argument(self, info):
        """Read the argument that follows an initial byte with additional info ``info`` (24..27)."""
        data = self.data
        pos = self.pos
        if info == 24:
            self.need(1)
            self.pos = pos + 1
            return data[pos]
        if info == 25:
            self.need(2)
            self.pos = pos + 2
            return (data[pos] << 8) | data[pos + 1]
        if info == 26:
            self.need(4)
            self.pos = pos + 4
            return (data[pos] << 24) | (data[pos + 1] << 16) | (data[pos + 2] << 8) | data[pos + 3]
        if info == 27:
            self.need(8)
            self.pos = pos + 8
            return struct.unpack_from(">Q", data, pos)[0]
        if info == 31:
            self.fail("indefinite length not allowed here", pos - 1)
        self.fail("reserved additional information %d" % info, pos - 1)

    def item(self):
        pos = self.pos
        if pos >= self.end:
            self.fail("truncated input: item expected")
        initial = self.data[pos]
        self.pos = pos + 1
        self.items_left -= 1
        if self.items_left < 0:
            self.fail("more than %d items" % self.max_items)
        if initial < 24:
            return initial  # the commonest item: a small unsigned integer (keys, labels, counters)
        major = initial >> 5
        info = initial & 0x1F

        if major == 7:
            return self.simple_or_float(info)
        if info < 24:
            length = info
        elif info == 31 and 2 <= major <= 5:
            return self.indefinite(major)
        else:
            length = self.argument(info)

        if major == 0:
            return length
        if major == 1:
            return -1 - length
        if major == 2 or major == 3:
            self.need(length)
            start = self.pos
            self.pos = start + length
            chunk = self.data[start:start + length]
            if major == 2:
                return chunk
            try:
                return str(chunk, "utf-8")
            except UnicodeError:
                self.fail("invalid UTF-8 in text string", start)
        if major == 4:
            # Each element takes at least one byte: a count beyond the input is refused up front.
            self.need(length)
            self.enter()
            result = []
            append = result.append
            for _ in range(length):
                append(self.item())
            self.depth_left += 1
            return result
        if major == 5:
            self.need(2 * length)
            self.enter()
            result = self.map_type()
            data = self.data
            for _ in range(length):
                pos = self.pos
                # Inline the commonest key, a small unsigned integer: one call less per entry.
                if pos < self.end and data[pos] < 24 and self.items_left > 0:
                    self.pos = pos + 1
                    self.items_left -= 1
                    key = data[pos]
                    value = self.item()
                    if key in result:
                        self.fail("duplicate map key %r" % (key,))
                    result[key] = value
                else:
                    key = self.item()
                    self.put(result, key, self.item())
            self.depth_left += 1
            return result
        self.enter()
        value = self.item()
        self.depth_left += 1
        return Tag(length, value)

    def enter(self):
        self.depth_left -= 1
        if self.depth_left < 0:
            self.fail("nesting deeper than %d" % self.max_depth)

    def put(self, mapping, key, value):
        try:
            known = key in mapping
            if not known:
                mapping[key] = value
        except TypeError:
            self.fail("unhashable map key of type %s" % type(key).__name__)
        if known:
            self.fail("duplicate map key %r" % (key,))

    def indefinite(self, major):
        data = self.data
        if major <= 3:
            chunks = []
            while True:
                if self.pos >= self.end:
                    self.fail("truncated input: indefinite string not closed")
                initial = data[self.pos]
                if initial == _BREAK:
                    self.pos += 1
                    break
                if initial >> 5 != major or initial & 0x1F == 31:
                    self.fail("indefinite string chunk of a different type")
                chunks.append(self.item())
            return (b"" if major == 2 else "").join(chunks)
        self.enter()
        if major == 4:
            result = []
            while True:
                if self.pos >= self.end:
                    self.fail("truncated input: indefinite array not closed")
                if data[self.pos] == _BREAK:
                    self.pos += 1
                    break
                result.append(self.item())
        else:
            result = self.map_type()
            while True:
                if self.pos >= self.end:
                    self.fail("truncated input: indefinite map not closed")
                if data[self.pos] == _BREAK:
                    self.pos += 1
                    break
                key = self.item()
                if self.pos < self.end and data[self.pos] == _BREAK:
                    self.fail("break between a map key and its value")
                self.put(result, key, self.item())
        self.depth_left += 1
        return result

    def simple_or_float(self, info):
        if info < 20:
            return Simple(info)
        if info == 20:
            return False
        if info == 21:
            return True
        if info == 22:
            return None
        if info == 23:
            return UNDEFINED
        data = self.data
        pos = self.pos
        if info == 24:
            self.need(1)
            self.pos = pos + 1
            if data[pos] < 32:
                self.fail("simple value %d in two-byte form" % data[pos], pos - 1)
            return Simple(data[pos])
        if info == 25:
            self.need(2)
            self.pos = pos + 2
            return _half_to_float((data[pos] << 8) | data[pos + 1])
        if info == 26:
            self.need(4)
            self.pos = pos + 4
            return struct.unpack_from(">f", data, pos)[0]
        if info == 27:
            self.need(8)
            self.pos = pos + 8
            return struct.unpack_from(">d", data, pos)[0]
        if info == 31:
            self.fail("break outside an indefinite-length item", pos - 1)
        self.fail("reserved additional information %d" % info, pos - 1)


def loads(data, max_size=DEFAULT_MAX_SIZE, max_depth=DEFAULT_MAX_DEPTH, max_items=DEFAULT_MAX_ITEMS,
          map_type=dict):
    """Decode exactly one CBOR item from ``data`` (bytes-like); trailing bytes are an error.

    ``max_size`` bounds the input length, ``max_depth`` the nesting of arrays, maps and tags, and
    ``max_items`` the total number of data items. Raises CBORDecodeError on any violation, including
    duplicate or unhashable map keys. ``map_type`` builds each map; ``collections.OrderedDict`` keeps
    the wire order on MicroPython, whose plain dict iterates in hash order.
    """
    if not isinstance(data, bytes):
        if not isinstance(data, (bytearray, memoryview)):
            raise CBORDecodeError("expected bytes, got %s" % type(data).__name__)
        if len(data) > max_size:
            raise CBORDecodeError("input of %d bytes exceeds the limit of %d" % (len(data), max_size))
        data = bytes(data)
    if len(data) > max_size:
        raise CBORDecodeError("input of %d bytes exceeds the limit of %d" % (len(data), max_size))
    decoder = _Decoder(data, max_depth, max_items, map_type)
    try:
        value = decoder.item()
    except RuntimeError:
        # The interpreter's own recursion limit (small on MicroPython) was hit before max_depth.
        raise CBORDecodeError("nesting too deep for this interpreter's stack")
    if decoder.pos != decoder.end:
        raise CBORDecodeError("%d bytes of extra data after the item at offset %d"
                              % (decoder.end - decoder.pos, decoder.pos))
    return value


# ---------------------------------------------------------------------------------------------- encoding
# Allocation matters on the chip: floats go through a per-call 8-byte scratch buffer instead of
# struct.pack, maps are walked by key (items() makes a tuple per entry), and short strings are copied
# straight into the output where the interpreter allows it.

try:
    bytearray().extend("a")  # type: ignore[arg-type]
    _STR_IS_BUFFER = True  # MicroPython: a str is a buffer of its UTF-8 bytes
except TypeError:
    _STR_IS_BUFFER = False


def _head(out, major, value):
    """Append an initial byte and the shortest argument for ``value`` (0 <= value < 2**64)."""
    mt = major << 5
    if value < 24:
        out.append(mt | value)
    elif value < 0x100:
        out.append(mt | 24)
        out.append(value)
    elif value < 0x10000:
        out.append(mt | 25)
        out.append(value >> 8)
        out.append(value & 0xFF)
    elif value < 0x100000000:
        out.append(mt | 26)
        out.append(value >> 24)
        out.append((value >> 16) & 0xFF)
        out.append((value >> 8) & 0xFF)
        out.append(value & 0xFF)
    else:
        out.append(mt | 27)
        out.extend(struct.pack(">Q", value))


def _bignum(out, value):
    tag = 2
    if value < 0:
        tag = 3
        value = -1 - value
    length = 0
    rest = value
    while rest:
        rest >>= 8
        length += 1
    _head(out, 6, tag)
    _head(out, 2, length)
    out.extend(value.to_bytes(length, "big"))


def _float(out, value, scratch):
    if value != value:
        out.extend(b"\xf9\x7e\x00")
        return
    # Read the float64 as 16-bit words so every intermediate stays a small int on the chip.
    struct.pack_into(">d", scratch, 0, value)
    w0 = (scratch[0] << 8) | scratch[1]
    w1 = (scratch[2] << 8) | scratch[3]
    w2 = (scratch[4] << 8) | scratch[5]
    w3 = (scratch[6] << 8) | scratch[7]
    sign = w0 >> 15
    exp64 = (w0 >> 4) & 0x7FF
    if exp64 == 0x7FF:
        out.extend(b"\xf9\xfc\x00" if sign else b"\xf9\x7c\x00")
        return
    if exp64 == 0 and not (w0 & 0xF or w1 or w2 or w3):
        out.extend(b"\xf9\x80\x00" if sign else b"\xf9\x00\x00")
        return
    exponent = exp64 - 1023
    if exp64 and w3 == 0 and w2 == 0 and -24 <= exponent <= 15:
        if exponent >= -14 and w1 & 0x3FF == 0:
            half = (sign << 15) | ((exponent + 15) << 10) | ((w0 & 0xF) << 6) | (w1 >> 10)
            out.append(0xF9)
            out.append(half >> 8)
            out.append(half & 0xFF)
            return
        if exponent < -14:
            # float16 subnormal: the 11 significant bits must survive a shift right by (-14 - exponent).
            significand = (((w0 & 0xF) | 0x10) << 6) | (w1 >> 10)
            shift = -14 - exponent
            if w1 & 0x3FF == 0 and significand & ((1 << shift) - 1) == 0:
                half = (sign << 15) | (significand >> shift)
                out.append(0xF9)
                out.append(half >> 8)
                out.append(half & 0xFF)
                return
    if exp64 and w3 == 0 and w2 & 0x1FFF == 0 and -149 <= exponent <= 127:
        mantissa = ((w0 & 0xF) << 19) | (w1 << 3) | (w2 >> 13)
        if exponent >= -126:
            biased = exponent + 127
            out.append(0xFA)
            out.append((sign << 7) | (biased >> 1))
            out.append(((biased & 1) << 7) | (mantissa >> 16))
            out.append((mantissa >> 8) & 0xFF)
            out.append(mantissa & 0xFF)
            return
        shift = -126 - exponent
        significand = mantissa | 0x800000
        if significand & ((1 << shift) - 1) == 0:
            mantissa = significand >> shift
            out.append(0xFA)
            out.append(sign << 7)
            out.append(mantissa >> 16)
            out.append((mantissa >> 8) & 0xFF)
            out.append(mantissa & 0xFF)
            return
    out.append(0xFB)
    out.extend(scratch)


def _text(out, text):
    if _STR_IS_BUFFER and len(text) < 6:
        # At most 5 characters are at most 20 UTF-8 bytes: a one-byte head, filled in after the copy.
        start = len(out) + 1
        out.append(0x60)
        out.extend(text)
        out[start - 1] = 0x60 | (len(out) - start)
    else:
        raw = text.encode("utf-8")
        _head(out, 3, len(raw))
        out.extend(raw)


def _encode(out, obj, scratch):
    if obj is None:
        out.append(0xF6)
    elif obj is True:
        out.append(0xF5)
    elif obj is False:
        out.append(0xF4)
    else:
        kind = type(obj)
        if kind is int:
            if 0 <= obj < 0x10000000000000000:
                _head(out, 0, obj)
            elif -0x10000000000000000 <= obj < 0:
                _head(out, 1, -1 - obj)
            else:
                _bignum(out, obj)
        elif kind is float:
            _float(out, obj, scratch)
        elif kind is str:
            _text(out, obj)
        elif kind is bytes or kind is bytearray or kind is memoryview:
            _head(out, 2, len(obj))
            out.extend(obj)
        elif kind is list or kind is tuple:
            _head(out, 4, len(obj))
            for element in obj:
                _encode(out, element, scratch)
        elif isinstance(obj, dict):
            _head(out, 5, len(obj))
            for key in obj:
                _encode(out, key, scratch)
                _encode(out, obj[key], scratch)
        elif kind is Tag:
            if type(obj.tag) is not int or not 0 <= obj.tag < 0x10000000000000000:
                raise CBOREncodeError("tag number %r out of range" % (obj.tag,))
            _head(out, 6, obj.tag)
            _encode(out, obj.value, scratch)
        elif kind is Simple:
            _head(out, 7, obj.value)
        elif obj is UNDEFINED:
            out.append(0xF7)
        elif isinstance(obj, int):
            _encode(out, int(obj), scratch)
        elif isinstance(obj, float):
            _encode(out, float(obj), scratch)
        elif isinstance(obj, str):
            _encode(out, str(obj), scratch)
        elif isinstance(obj, (list, tuple)):
            _encode(out, list(obj), scratch)
        else:
            raise CBOREncodeError("cannot encode an object of type %s" % kind.__name__)


def dumps(obj):
    """Encode ``obj`` (None, bool, int, float, str, bytes, list/tuple, dict, Tag, Simple, UNDEFINED)."""
    out = bytearray()
    try:
        _encode(out, obj, bytearray(8))
    except RuntimeError:
        raise CBOREncodeError("object nested too deeply (or contains itself)")
    return bytes(out)
