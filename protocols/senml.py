"""SenML packs (RFC 8428) with CBOR integer labels, and the registry of quantities Reverbère measures.

Builders emit integer labels in canonical CBOR key order (non-negative labels ascending, then the base
labels -1, -2, ...), so an encoded record equals cbor2's canonical encoding. ``resolve`` accepts integer
or JSON string labels and returns resolved records (RFC 8428 §4.6) keyed by JSON label names.
"""

# CBOR labels, RFC 8428 §6 table 4.
BVER = -1
BN = -2
BT = -3
BU = -4
BV = -5
BS = -6
N = 0
U = 1
V = 2
VS = 3
VB = 4
S = 5
T = 6
UT = 7
VD = 8

LABEL_NAMES = {
    BVER: "bver", BN: "bn", BT: "bt", BU: "bu", BV: "bv", BS: "bs",
    N: "n", U: "u", V: "v", VS: "vs", VB: "vb", S: "s", T: "t", UT: "ut", VD: "vd",
}
_LABELS_BY_NAME = {}
for _label, _name in LABEL_NAMES.items():
    _LABELS_BY_NAME[_name] = _label
del _label, _name

VERSION = 10
# RFC 9100 reads bver as a feature bitmap; bits 0-4 are the ones defined so far (bit 4: secondary units).
_KNOWN_VERSION_BITS = 0x1F

# Times below 2**28 are relative to "now" (RFC 8428 §4.5.3); for us, to the message envelope's time.
RELATIVE_TIME_LIMIT = 1 << 28

# Quantities: short SenML name -> (unit, resolution, min, max, description).
# The resolution is a power-of-two step so quantised values encode as short exact floats (float16 holds
# 11 significant bits, float32 24). Units are RFC 8428 registered units, except "Wh", "dBm" and "ug/m3",
# which are secondary units (RFC 8798 §3, usable in SenML per RFC 9100); the primary-unit equivalents
# (J, dBW, kg/m3) would put every reading in an unfamiliar scale.
REGISTRY = {
    "temp": ("Cel", 1 / 16, -40.0, 85.0, "air temperature"),
    "hum": ("%RH", 1 / 16, 0.0, 100.0, "relative humidity"),
    "pres": ("Pa", 1.0, 30000.0, 110000.0, "barometric pressure"),
    "lux": ("lx", 1 / 4, 0.0, 200000.0, "illuminance"),
    "noise": ("dB", 1 / 8, 0.0, 140.0, "A-weighted equivalent sound level LAeq over the period"),
    "pm25": ("ug/m3", 1 / 4, 0.0, 1000.0, "PM2.5 particulate mass concentration"),
    "pm10": ("ug/m3", 1 / 4, 0.0, 1000.0, "PM10 particulate mass concentration"),
    "presence": ("count", 1.0, 0.0, 100000.0, "people or vehicles detected during the period"),
    "power": ("W", 1 / 8, 0.0, 10000.0, "electrical power drawn by the luminaire"),
    "energy": ("Wh", 1 / 16, 0.0, 1e9, "electrical energy drawn since installation"),
    "dim": ("%", 1 / 2, 0.0, 100.0, "luminaire dim level"),
    "batt": ("%", 1 / 2, 0.0, 100.0, "battery state of charge"),
    "vbat": ("V", 1 / 256, 0.0, 20.0, "battery voltage"),
    "rssi": ("dBm", 1.0, -120.0, 0.0, "Wi-Fi received signal strength"),
    "lifi": ("count", 1.0, 0.0, 1000000.0, "LiFi beacons decoded during the period"),
}

_NAME_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_NAME_CHARS = _NAME_FIRST + "-:./_"


def _quantity(name):
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError("unknown quantity %r" % (name,))


def quantise(name, value):
    """Round ``value`` to the registered resolution of quantity ``name`` (a float)."""
    step = _quantity(name)[1]
    # round() to an int keeps one float temporary fewer than floor(x + 0.5) on the chip.
    return round(value / step) * step


def check(name, value):
    """Return ``value`` if it lies in the registered range of quantity ``name``; ValueError otherwise."""
    unit, _, low, high, _ = _quantity(name)
    if not _is_number(value):
        raise ValueError("%s must be a number, not %r" % (name, value))
    if not low <= value <= high:
        raise ValueError("%s %r %s outside %r..%r" % (name, value, unit, low, high))
    return value


def check_name(name):
    """Raise ValueError unless ``name`` is a valid resolved SenML name (RFC 8428 §4.5.1)."""
    if not name:
        raise ValueError("empty name")
    if name[0] not in _NAME_FIRST:
        raise ValueError("name %r must start with a letter or digit" % (name,))
    for char in name:
        if char not in _NAME_CHARS:
            raise ValueError("name %r holds %r; allowed: letters, digits and - : . / _" % (name, char))


def _is_number(value):
    kind = type(value)
    return kind is int or kind is float


def record(name=None, value=None, unit=None, time=None, sum=None, update_time=None):
    """One SenML record with integer labels; ``value``'s type picks v, vs, vb or vd."""
    rec = {}
    if name is not None:
        rec[N] = name
    if unit is not None:
        rec[U] = unit
    if value is not None:
        if value is True or value is False:
            rec[VB] = value
        elif _is_number(value):
            rec[V] = value
        elif isinstance(value, str):
            rec[VS] = value
        elif isinstance(value, (bytes, bytearray)):
            rec[VD] = bytes(value)
        else:
            raise ValueError("unsupported SenML value %r" % (value,))
    if sum is not None:
        rec[S] = sum
    if time is not None:
        rec[T] = time
    if update_time is not None:
        rec[UT] = update_time
    if value is None and sum is None:
        raise ValueError("a record needs a value or a sum")
    return rec


def pack(records, base_name=None, base_time=None, base_unit=None, base_value=None, base_sum=None,
         version=None):
    """A SenML pack: ``records`` (from ``record``) with the base fields put in the first record."""
    records = list(records)
    if not records:
        raise ValueError("a pack needs at least one record")
    bases = ((BVER, version), (BN, base_name), (BT, base_time), (BU, base_unit), (BV, base_value),
             (BS, base_sum))
    first = None
    for label, value in bases:
        if value is not None:
            if first is None:
                first = dict(records[0])
            first[label] = value
    if first is not None:
        records[0] = first
    return records


def _label_name(key):
    if type(key) is int:
        return LABEL_NAMES.get(key)
    if isinstance(key, str):
        if key in _LABELS_BY_NAME:
            return key
        if key.endswith("_"):
            raise ValueError("label %r must be understood and is not" % (key,))
    return None


def _typed(field, value):
    if field in ("n", "u", "vs", "bn", "bu"):
        ok = isinstance(value, str)
    elif field == "vb":
        ok = value is True or value is False
    elif field == "vd":
        ok = isinstance(value, bytes)
    elif field == "bver":
        ok = type(value) is int and value >= 0
    else:
        ok = _is_number(value)
    if not ok:
        raise ValueError("%s has the wrong type: %r" % (field, value))
    return value


def resolve(senml_pack, base_time=None):
    """Resolve a decoded pack into records keyed by JSON label names (RFC 8428 §4.6).

    Base name, unit, value, sum and time are applied; times below 2**28 are relative and, when
    ``base_time`` (the message envelope's time) is given, it is added to make them absolute.
    Raises ValueError with the reason on an invalid pack.
    """
    if not isinstance(senml_pack, list) or not senml_pack:
        raise ValueError("a pack must be a non-empty array of records")
    bn = ""
    bu = None
    bt = 0
    bv = None
    bs = None
    version = None
    resolved = []
    for index, raw in enumerate(senml_pack):
        if not isinstance(raw, dict):
            raise ValueError("record %d is not a map" % index)
        fields = {}
        try:
            for key, value in raw.items():
                field = _label_name(key)
                if field is not None:
                    if field in fields:
                        raise ValueError("label %s given twice" % field)
                    fields[field] = _typed(field, value)
            if "bver" in fields:
                if version is not None and fields["bver"] != version:
                    raise ValueError("bver %d differs from %d of an earlier record" % (fields["bver"], version))
                version = fields["bver"]
                if version & ~_KNOWN_VERSION_BITS:
                    raise ValueError("SenML version %d needs features this decoder lacks" % version)
            if "bn" in fields:
                bn = fields["bn"]
            if "bu" in fields:
                bu = fields["bu"]
            if "bt" in fields:
                bt = fields["bt"]
            if "bv" in fields:
                bv = fields["bv"]
            if "bs" in fields:
                bs = fields["bs"]
            resolved.append(_resolve_record(fields, bn, bu, bt, bv, bs, base_time))
        except ValueError as exc:
            raise ValueError("record %d: %s" % (index, exc))
    return resolved


def _resolve_record(fields, bn, bu, bt, bv, bs, base_time):
    values = [name for name in ("v", "vs", "vb", "vd") if name in fields]
    if len(values) > 1:
        raise ValueError("more than one value (%s)" % ", ".join(values))
    if not values and "s" not in fields:
        raise ValueError("no value and no sum")
    name = bn + fields.get("n", "")
    check_name(name)
    out = {"n": name}
    unit = fields.get("u", bu)
    if unit is not None:
        out["u"] = unit
    if values:
        field = values[0]
        value = fields[field]
        if field == "v" and bv is not None:
            value = bv + value
        out[field] = value
    if "s" in fields:
        out["s"] = fields["s"] if bs is None else bs + fields["s"]
    time = bt + fields.get("t", 0)
    if base_time is not None and time < RELATIVE_TIME_LIMIT:
        time = base_time + time
    out["t"] = time
    if "ut" in fields:
        out["ut"] = fields["ut"]
    return out
