"""The message catalogue of the wire contract: key numbers, builders and the contract check.

``protocols/schema.cddl`` is normative; this module implements it in the common subset of CPython and
MicroPython. On a node it builds the uplinks and checks the downlinks it receives; in the gateway,
``validate`` is the contract check of every message received and ``validate_data`` its fast path for
the data channel.

What a decoded value cannot show is left to the encoders: the CBOR width of a float (downlinks carry no
float16) and a bignum tag that decodes to a plain int.
"""

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

# ------------------------------------------------------------------------------------------------ keys

BOOT = const(1)
SEQ = const(2)
TIME = const(3)
PACK = const(4)

ROLE = const(10)
BOARD = const(11)
HW = const(12)
FW = const(13)
CAPS = const(14)
CFG = const(15)
RESET = const(16)
SAFE = const(17)

UPTIME = const(20)
HEAP_FREE = const(21)
HEAP_ALLOC = const(22)
RSSI = const(23)
DROPPED = const(24)
BUFFERED = const(25)
FAULTS = const(26)
PERIOD = const(27)
EXT = const(28)

KIND = const(30)
EVT_DETAIL = const(31)

ID = const(40)
OP = const(41)
ARGS = const(42)
RESULT = const(43)
ACK_DETAIL = const(44)
URL = const(45)
SHA256 = const(46)
SIZE = const(47)
VERSION = const(48)

# RFC 8428 CBOR labels of the SenML fields a data pack may use.
L_BVER = const(-1)
L_BT = const(-3)
L_BU = const(-4)
L_BV = const(-5)
L_N = const(0)
L_U = const(1)
L_V = const(2)
L_VS = const(3)
L_VB = const(4)
L_S = const(5)
L_T = const(6)
L_UT = const(7)
L_VD = const(8)

# ------------------------------------------------------------------------------------------ vocabulary

UPLINK_CHANNELS = ("birth", "death", "data", "status", "evt", "ack")
DOWNLINK_CHANNELS = ("cmd", "ota")
CHANNELS = UPLINK_CHANNELS + DOWNLINK_CHANNELS

ROLES = ("sensor", "luminaire", "lifi-rx")
RESET_CAUSES = ("power-on", "hard", "watchdog", "soft", "deep-sleep", "brownout", "panic", "unknown")
FAULT_REASONS = ("absent", "nack", "crc", "range", "timeout")
ACK_RESULTS = ("ok", "error", "unknown-op", "bad-args")
OPS = ("reboot", "rebirth", "status", "period", "identify", "config", "dim", "schedule", "lifi-message")

# A synced time earlier than 2020-01-01 cannot come from NTP: it is a clock that was never set.
SYNCED_TIME_MIN = const(1577836800)
SYNCED_TIME_MAX = 4294967295
UINT_MAX = 0xFFFFFFFFFFFFFFFF
NINT_MIN = -0x10000000000000000
CFG_HASH_SIZE = const(8)
SHA256_SIZE = const(32)
LIFI_TEXT_MAX = const(64)

# Reason classes carried by MessageError.reason; the node maps the last two to its ack result.
NOT_A_MAP = "not-a-map"
UNKNOWN_CHANNEL = "unknown-channel"
MISSING_KEY = "missing-key"
UNEXPECTED_KEY = "unexpected-key"
BAD_VALUE = "bad-value"
BAD_PACK = "bad-pack"
UNKNOWN_OP = "unknown-op"
BAD_ARGS = "bad-args"


class MessageError(ValueError):
    """A message that breaks the contract: ``reason`` is its class, ``str(error)`` says precisely why."""

    def __init__(self, reason, text):
        super().__init__(text)
        self.reason = reason


# ------------------------------------------------------------------------------------------------ time


def unsynced(uptime_ms):
    """The time of a node whose wall clock is unknown: milliseconds since this boot."""
    return [uptime_ms]


def is_synced(time):
    """True for POSIX seconds from a synced clock, False for the unsynced [uptime_ms] form."""
    if not _is_time(time):
        raise MessageError(BAD_VALUE, "time must be %s, got %s" % (_TIME_TEXT, _describe(time)))
    return type(time) is not list


# -------------------------------------------------------------------------------------------- builders
# Uplinks are built by the firmware from its own state at every message, so they are not checked here
# (the tests check them); downlinks are built by the gateway from operator input, so cmd() and ota()
# check what they return.


def birth(boot, seq, time, role, board, hw, fw, caps, cfg, reset, safe, dropped, buffered):
    return {BOOT: boot, SEQ: seq, TIME: time, ROLE: role, BOARD: board, HW: hw, FW: fw, CAPS: caps,
            CFG: cfg, RESET: reset, SAFE: safe, DROPPED: dropped, BUFFERED: buffered}


def death(boot):
    return {BOOT: boot}


def data(boot, seq, time, pack):
    return {BOOT: boot, SEQ: seq, TIME: time, PACK: pack}


def status(boot, seq, time, uptime, heap_free, heap_alloc, rssi, dropped, buffered, faults, period, ext):
    return {BOOT: boot, SEQ: seq, TIME: time, UPTIME: uptime, HEAP_FREE: heap_free,
            HEAP_ALLOC: heap_alloc, RSSI: rssi, DROPPED: dropped, BUFFERED: buffered, FAULTS: faults,
            PERIOD: period, EXT: ext}


def evt(boot, seq, time, kind, detail=None):
    return {BOOT: boot, SEQ: seq, TIME: time, KIND: kind, EVT_DETAIL: detail}


def ack(boot, seq, time, cmd_id, result, detail=None):
    msg = {BOOT: boot, SEQ: seq, TIME: time, ID: cmd_id, RESULT: result}
    if detail is not None:
        msg[ACK_DETAIL] = detail
    return msg


def cmd(cmd_id, op, args=None):
    msg = {ID: cmd_id, OP: op}
    if args is not None:
        msg[ARGS] = args
    return validate("cmd", msg)


def ota(cmd_id, url, sha256, size, version):
    return validate("ota", {ID: cmd_id, URL: url, SHA256: sha256, SIZE: size, VERSION: version})


# ---------------------------------------------------------------------------------------- value checks
# Each check is a predicate; its companion text says what it expects, for the error message.


def _is_uint(v):
    return type(v) is int and 0 <= v <= UINT_MAX


def _is_int(v):
    return type(v) is int and NINT_MIN <= v <= UINT_MAX


def _is_num(v):
    # v - v is NaN for an infinity or a NaN, so this keeps finite floats only.
    if type(v) is float:
        return v - v == 0.0
    return type(v) is int and NINT_MIN <= v <= UINT_MAX


def _is_str(v):
    return type(v) is str


def _is_bytes(v):
    return type(v) is bytes


def _is_bool(v):
    return type(v) is bool


def _is_any(v):
    return True


def _is_time(v):
    kind = type(v)
    if kind is int or kind is float:
        return SYNCED_TIME_MIN <= v <= SYNCED_TIME_MAX
    return kind is list and len(v) == 1 and _is_uint(v[0])


_TIME_TEXT = "epoch seconds in [%d, %d] or [uptime_ms]" % (SYNCED_TIME_MIN, SYNCED_TIME_MAX)

_NAME_FIRST = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_NAME_REST = _NAME_FIRST + "-:./_"
_KIND_FIRST = "abcdefghijklmnopqrstuvwxyz"
_KIND_REST = _KIND_FIRST + "0123456789-"


def _chars_in(text, first, rest):
    if type(text) is not str or not text or text[0] not in first:
        return False
    for c in text:
        if c not in rest:
            return False
    return True


def _is_senml_name(v):
    return _chars_in(v, _NAME_FIRST, _NAME_REST)


def _is_token(v):
    return _chars_in(v, _KIND_FIRST, _KIND_REST)


def _is_role(v):
    return type(v) is str and v in ROLES


def _is_reset(v):
    return type(v) is str and v in RESET_CAUSES


def _is_result(v):
    return type(v) is str and v in ACK_RESULTS


def _is_cfg_hash(v):
    return type(v) is bytes and len(v) == CFG_HASH_SIZE


def _is_sha256(v):
    return type(v) is bytes and len(v) == SHA256_SIZE


def _is_map_of(v, value_check):
    if not isinstance(v, dict):
        return False
    for key, value in v.items():
        if type(key) is not str or not value_check(value):
            return False
    return True


def _is_hw(v):
    return _is_map_of(v, _is_hw_value)


def _is_hw_value(v):
    return type(v) is str or _is_uint(v)


def _is_faults(v):
    return _is_map_of(v, _is_fault)


def _is_fault(v):
    return type(v) is str and v in FAULT_REASONS


def _is_ext(v):
    return _is_map_of(v, _is_any)


def _is_caps(v):
    if type(v) is not list:
        return False
    for cap in v:
        if (type(cap) is not list or len(cap) != 3 or not _is_senml_name(cap[0])
                or type(cap[1]) is not str or not _is_uint(cap[2])):
            return False
    return True


def _is_url(v):
    if type(v) is not str:
        return False
    if v.startswith("https://"):
        rest = v[8:]
    elif v.startswith("http://"):
        rest = v[7:]
    else:
        return False
    return len(rest) > 0 and " " not in rest


def _is_dl_value(v):
    """A value a small decoder on the chip handles: no tags (which decode to other types)."""
    kind = type(v)
    if kind is str or kind is bytes or kind is bool or kind is float or v is None:
        return True
    if kind is int:
        return NINT_MIN <= v <= UINT_MAX
    if kind is list:
        for item in v:
            if not _is_dl_value(item):
                return False
        return True
    return _is_map_of(v, _is_dl_value)


# ------------------------------------------------------------------------------------- message layouts
# A key has one name and one type wherever it appears, as in the CDDL: key -> (name, check, expected).
# A check of None is done by the channel's own code (the pack of data, the args of cmd).

_ONE_OF = "one of "
_KEY_TYPES = {
    BOOT: ("boot", _is_uint, "uint"),
    SEQ: ("seq", _is_uint, "uint"),
    TIME: ("time", _is_time, _TIME_TEXT),
    PACK: ("pack", None, None),
    ROLE: ("role", _is_role, _ONE_OF + ", ".join(ROLES)),
    BOARD: ("board", _is_str, "tstr"),
    HW: ("hw", _is_hw, "map of tstr to tstr or uint"),
    FW: ("fw", _is_str, "tstr"),
    CAPS: ("caps", _is_caps, "array of [name, unit, period_s]"),
    CFG: ("cfg", _is_cfg_hash, "bstr of %d bytes" % CFG_HASH_SIZE),
    RESET: ("reset", _is_reset, _ONE_OF + ", ".join(RESET_CAUSES)),
    SAFE: ("safe", _is_bool, "bool"),
    UPTIME: ("uptime", _is_uint, "uint"),
    HEAP_FREE: ("heap_free", _is_uint, "uint"),
    HEAP_ALLOC: ("heap_alloc", _is_uint, "uint"),
    RSSI: ("rssi", _is_int, "int"),
    DROPPED: ("dropped", _is_uint, "uint"),
    BUFFERED: ("buffered", _is_uint, "uint"),
    FAULTS: ("faults", _is_faults, "map of tstr to " + _ONE_OF + ", ".join(FAULT_REASONS)),
    PERIOD: ("period", _is_uint, "uint"),
    EXT: ("ext", _is_ext, "map of tstr to any"),
    KIND: ("kind", _is_token, "tstr of [a-z][a-z0-9-]*"),
    EVT_DETAIL: ("detail", _is_any, None),
    ID: ("id", _is_uint, "uint"),
    OP: ("op", _is_str, "tstr"),
    ARGS: ("args", None, None),
    RESULT: ("result", _is_result, _ONE_OF + ", ".join(ACK_RESULTS)),
    ACK_DETAIL: ("detail", _is_any, None),
    URL: ("url", _is_url, "http:// or https:// URL without spaces"),
    SHA256: ("sha256", _is_sha256, "bstr of %d bytes" % SHA256_SIZE),
    SIZE: ("size", _is_uint, "uint"),
    VERSION: ("version", _is_str, "tstr"),
}

# channel -> (keys in the order they are checked, how many of the first ones are required)
_HEADER = (BOOT, SEQ, TIME)
_LAYOUTS = {
    "birth": (_HEADER + (ROLE, BOARD, HW, FW, CAPS, CFG, RESET, SAFE, DROPPED, BUFFERED), 13),
    "death": ((BOOT,), 1),
    "data": (_HEADER + (PACK,), 4),
    "status": (_HEADER + (UPTIME, HEAP_FREE, HEAP_ALLOC, RSSI, DROPPED, BUFFERED, FAULTS, PERIOD, EXT), 12),
    "evt": (_HEADER + (KIND, EVT_DETAIL), 5),
    "ack": (_HEADER + (ID, RESULT, ACK_DETAIL), 5),
    "cmd": ((ID, OP, ARGS), 2),
    "ota": ((ID, URL, SHA256, SIZE, VERSION), 5),
}


# ---------------------------------------------------------------------------------------------- checks


def _describe(v):
    """A short account of a bad value for an error message: its CBOR-ish type and, if small, itself."""
    kind = type(v)
    if v is None or kind is bool or kind is int or kind is float:
        return "%s %r" % (kind.__name__, v)
    if kind is str and len(v) <= 24:
        return "str %r" % v
    return kind.__name__


def validate(channel, msg):
    """Check ``msg`` (a decoded payload) against the contract of ``channel``; return it unchanged.

    Raises MessageError whose ``reason`` is one of NOT_A_MAP, UNKNOWN_CHANNEL, MISSING_KEY,
    UNEXPECTED_KEY, BAD_VALUE, BAD_PACK, UNKNOWN_OP, BAD_ARGS and whose text names the key and the fault.
    """
    layout = _LAYOUTS.get(channel)
    if layout is None:
        raise MessageError(UNKNOWN_CHANNEL, "unknown channel %r" % (channel,))
    # isinstance: a MicroPython decoder may build maps as OrderedDict to keep the wire order.
    if not isinstance(msg, dict):
        raise MessageError(NOT_A_MAP, "%s: message must be a map, got %s" % (channel, _describe(msg)))
    keys, required = layout
    for key in msg:
        # type() first: True and 1.0 are equal to 1 as dict keys but are not the key 1.
        if type(key) is not int or key not in keys:
            raise MessageError(UNEXPECTED_KEY, "%s: unexpected key %r" % (channel, key))
    index = 0
    for key in keys:
        name, check, expected = _KEY_TYPES[key]
        if key not in msg:
            if index < required:
                raise MessageError(MISSING_KEY, "%s: missing key %d (%s)" % (channel, key, name))
        elif check is not None and not check(msg[key]):
            raise MessageError(BAD_VALUE, "%s: key %d (%s) must be %s, got %s"
                               % (channel, key, name, expected, _describe(msg[key])))
        index += 1
    if channel == "data":
        _check_pack(msg[PACK])
    elif channel == "cmd":
        _check_command(msg)
    return msg


# ------------------------------------------------------------------------------------------ SenML pack

_VALUE_LABELS = (L_V, L_VS, L_VB, L_VD)

# label -> (name, check, expected)
_RECORD_LABELS = {
    L_BVER: ("bver", _is_uint, "uint"),
    L_BT: ("bt", _is_num, "a finite number"),
    L_BU: ("bu", _is_str, "tstr"),
    L_BV: ("bv", _is_num, "a finite number"),
    L_N: ("n", _is_senml_name, "a SenML name ([A-Za-z0-9][-:./_A-Za-z0-9]*)"),
    L_U: ("u", _is_str, "tstr"),
    L_V: ("v", _is_num, "a finite number"),
    L_VS: ("vs", _is_str, "tstr"),
    L_VB: ("vb", _is_bool, "bool"),
    L_S: ("s", _is_num, "a finite number"),
    L_T: ("t", _is_num, "a finite number"),
    L_UT: ("ut", _is_num, "a finite number"),
    L_VD: ("vd", _is_bytes, "bstr"),
}


def _pack_error(index, text):
    raise MessageError(BAD_PACK, "data: key 4 (pack) record %d: %s" % (index, text))


def _check_pack(pack):
    if type(pack) is not list or not pack:
        raise MessageError(BAD_PACK, "data: key 4 (pack) must be a non-empty array of SenML records, got %s"
                           % _describe(pack))
    index = 0
    for record in pack:
        if not isinstance(record, dict):
            _pack_error(index, "must be a map, got %s" % _describe(record))
        values = 0
        for label, value in record.items():
            spec = _RECORD_LABELS.get(label) if type(label) is int else None
            if spec is None:
                _pack_error(index, "unexpected label %r" % (label,))
            if not spec[1](value):
                _pack_error(index, "label %d (%s) must be %s, got %s"
                            % (label, spec[0], spec[2], _describe(value)))
            if label in _VALUE_LABELS:
                values += 1
        if L_N not in record:
            _pack_error(index, "missing label 0 (n)")
        if values > 1:
            _pack_error(index, "more than one of the value labels v, vs, vb, vd")
        if values == 0 and L_S not in record:
            _pack_error(index, "no value: needs one of v, vs, vb, vd or s")
        index += 1


def validate_data(msg):
    """``validate("data", msg)`` with a fast path for the records nodes send: ``{n, u, v}`` and ``{n, v}``.

    The gateway calls it for every data message. A message the fast path does not settle goes through
    ``validate``, so the result and every error are the same as ``validate``'s.
    """
    if type(msg) is dict and msg.keys() == _DATA_KEYS:
        for key in msg:
            # type() first: True and 1.0 are equal to 1 as dict keys but are not the key 1.
            if type(key) is not int:
                return validate("data", msg)
        boot = msg[BOOT]
        seq = msg[SEQ]
        time = msg[TIME]
        pack = msg[PACK]
        if (type(boot) is int and type(seq) is int and 0 <= boot <= UINT_MAX and 0 <= seq <= UINT_MAX
                and type(time) is int and SYNCED_TIME_MIN <= time <= SYNCED_TIME_MAX
                and type(pack) is list and pack and _is_plain_pack(pack)):
            return msg
    return validate("data", msg)


_DATA_KEYS = {BOOT, SEQ, TIME, PACK}
_NUV_LABELS = {L_N, L_U, L_V}
_NV_LABELS = {L_N, L_V}

# SenML names already found well-formed, so the fast path checks each name's characters once. Bounded
# because names come from the network; once full, new names are checked every time (nothing is lost).
_known_names = set()  # type: set[str]
_KNOWN_NAMES_MAX = const(1024)


def _is_plain_pack(pack):
    known = _known_names
    for record in pack:
        if type(record) is not dict:
            return False
        labels = record.keys()
        if labels != _NUV_LABELS and labels != _NV_LABELS:
            return False
        for label in labels:
            if type(label) is not int:
                return False
        name = record[L_N]
        if type(name) is not str:
            return False
        if name not in known:
            if not _is_senml_name(name):
                return False
            if len(known) < _KNOWN_NAMES_MAX:
                known.add(name)
        if L_U in record and type(record[L_U]) is not str:
            return False
        value = record[L_V]
        if type(value) is float:
            if value - value != 0.0:
                return False
        elif type(value) is not int or not NINT_MIN <= value <= UINT_MAX:
            return False
    return True


# --------------------------------------------------------------------------------------------- commands


def _range_arg(name, low, high):
    def check(args):
        if len(args) != 1 or name not in args:
            return "takes exactly the arg %r" % name
        value = args[name]
        if type(value) is not int or not low <= value <= high:
            return "arg %r must be an int in [%d, %d], got %s" % (name, low, high, _describe(value))
        return None
    return check


def _config_args(args):
    if not args:
        return "needs at least one key to set"
    return None


def _schedule_args(args):
    if len(args) != 1 or "points" not in args:
        return "takes exactly the arg 'points'"
    points = args["points"]
    if type(points) is not list:
        return "arg 'points' must be an array, got %s" % _describe(points)
    for point in points:
        if (type(point) is not list or len(point) != 2 or type(point[0]) is not int
                or type(point[1]) is not int or not 0 <= point[0] <= 1439 or not 0 <= point[1] <= 100):
            return "each point must be [minute_of_day 0..1439, level 0..100], got %s" % _describe(point)
    return None


def _lifi_message_args(args):
    if len(args) != 1 or "text" not in args:
        return "takes exactly the arg 'text'"
    text = args["text"]
    if type(text) is not str or not 1 <= len(text.encode("utf-8")) <= LIFI_TEXT_MAX:
        return "arg 'text' must be a tstr of 1 to %d bytes, got %s" % (LIFI_TEXT_MAX, _describe(text))
    return None


# op -> check of its args map (None: the op takes no args)
_OP_ARGS = {
    "reboot": None,
    "rebirth": None,
    "status": None,
    "period": _range_arg("s", 1, 86400),
    "identify": _range_arg("s", 1, 3600),
    "config": _config_args,
    "dim": _range_arg("level", 0, 100),
    "schedule": _schedule_args,
    "lifi-message": _lifi_message_args,
}


def _check_command(msg):
    op = msg[OP]
    if op not in _OP_ARGS:
        raise MessageError(UNKNOWN_OP, "cmd: unknown op %r" % (op,))
    # Not msg.get(): a CBOR null in key 42 is a bad args map, not an absent one.
    args = msg[ARGS] if ARGS in msg else None
    if ARGS in msg and not _is_map_of(args, _is_dl_value):
        raise MessageError(BAD_ARGS, "cmd: key 42 (args) must be a map of tstr to plain values"
                           " (no tags), got %s" % _describe(args))
    check = _OP_ARGS[op]
    if check is None:
        if args:
            raise MessageError(BAD_ARGS, "cmd: op %s takes no args" % op)
        return
    if args is None:
        raise MessageError(BAD_ARGS, "cmd: op %s needs key 42 (args)" % op)
    fault = check(args)
    if fault is not None:
        raise MessageError(BAD_ARGS, "cmd: op %s %s" % (op, fault))
