"""Check every protocols/vectors/*.json case with the protocols/ modules of this interpreter.

Runs under MicroPython and CPython alike, from the repository root:

    micropython tests/mpy/runner.py [VECTORS_DIR [MODULE_DIR ...]]

MODULE_DIRs go first on sys.path (default: the current directory), so the same cases can run against
precompiled .mpy modules. Prints one line per failing case and a final "N passed, N failed" line;
the exit status is 1 when a case fails.

Per file: topics.json cases hold a topic and its parts (or an error); every other file holds CBOR
cases: the hex decodes to the value (typed comparison), and unless a case says "decode_only" the value
re-encodes to the same bytes. senml.json cases also resolve to "resolved" (with "base_time" if given).
A messages.json case names its "channel": protocols.messages.validate(channel, value) must accept it, and
for an "error" case whose hex decodes, must reject it with ValueError.

Beyond the value forms of docs/wire-contract.md, {"$simple": n} stands for a simple value and
{"$undefined": true} for undefined.
"""

import gc
import json
import os
import sys
from binascii import unhexlify

try:
    from collections import OrderedDict
except ImportError:
    OrderedDict = dict

_IS_MICROPYTHON = sys.implementation.name == "micropython"
# A plain MicroPython dict iterates in hash order; decode into OrderedDict to re-encode in wire order.
_ORDERED_MAP = OrderedDict if _IS_MICROPYTHON else dict

cbor = None
senml = None
topics = None
messages = None


def read_cases(path):
    """Yield the objects of a JSON array file one at a time, so a big file never sits in RAM whole."""
    depth = 0
    in_string = False
    escaped = False
    parts = []
    with open(path) as stream:
        while True:
            chunk = stream.read(512)
            if not chunk:
                break
            start = 0
            for index in range(len(chunk)):
                char = chunk[index]
                if in_string:
                    if escaped:
                        escaped = False
                    elif char == "\\":
                        escaped = True
                    elif char == '"':
                        in_string = False
                elif char == '"':
                    in_string = True
                elif char == "{":
                    if depth == 0:
                        start = index
                        parts = []
                    depth += 1
                elif char == "}":
                    depth -= 1
                    if depth == 0:
                        parts.append(chunk[start:index + 1])
                        text = "".join(parts)
                        parts = []
                        case = json.loads(text)
                        text = None
                        yield case
                        case = None
            if depth > 0:
                parts.append(chunk[start:])


def to_value(spec):
    """The Python value a vector's JSON "value" stands for (see docs/wire-contract.md)."""
    if isinstance(spec, list):
        return [to_value(item) for item in spec]
    if isinstance(spec, dict):
        if "$bytes" in spec:
            return unhexlify(spec["$bytes"])
        if "$tag" in spec:
            return cbor.Tag(spec["$tag"], to_value(spec["value"]))
        if "$float" in spec:
            return float(spec["$float"])
        if "$map" in spec:
            result = {}
            for key, value in spec["$map"]:
                result[to_value(key)] = to_value(value)
            return result
        if "$simple" in spec:
            return cbor.Simple(spec["$simple"])
        if "$undefined" in spec:
            return cbor.UNDEFINED
        result = {}
        for key in spec:
            result[key] = to_value(spec[key])
        return result
    return spec


def same(got, want):
    """Equality that also tells int from float from bool, -0.0 from 0.0, and NaN equals NaN."""
    if isinstance(got, dict) and isinstance(want, dict):
        if len(got) != len(want):
            return False
        for key in want:
            if key not in got or not same(got[key], want[key]):
                return False
        return True
    if type(got) is not type(want):
        return False
    if isinstance(got, float):
        if got != got:
            return want != want
        if got == 0.0 and want == 0.0:
            return str(got) == str(want)
        return got == want
    if isinstance(got, list):
        if len(got) != len(want):
            return False
        for index in range(len(got)):
            if not same(got[index], want[index]):
                return False
        return True
    if isinstance(got, cbor.Tag):
        return got.tag == want.tag and same(got.value, want.value)
    return got == want


class Failure(Exception):
    pass


def check_topic(case):
    if "error" in case:
        try:
            parts = topics.parse(case["topic"])
        except ValueError:
            return
        raise Failure("accepted %r as %r; expected error: %s" % (case["topic"], parts, case["error"]))
    parts = topics.parse(case["topic"])
    want = tuple(case["parts"])
    if parts != want:
        raise Failure("parsed %r, expected %r" % (parts, want))
    built = topics.build(want[0], want[1], want[2])
    if built != case["topic"]:
        raise Failure("built %r, expected %r" % (built, case["topic"]))


def contract_check(stem, case, value):
    """Raise ValueError if the decoded value breaks the file's own contract (SenML, messages)."""
    if stem == "senml":
        resolved = senml.resolve(value, case.get("base_time"))
        if "resolved" in case and not same(resolved, to_value(case["resolved"])):
            raise Failure("resolved to %r, expected %r" % (resolved, case["resolved"]))
    if "channel" in case and messages is not None:
        messages.validate(case["channel"], value)


def check_cbor(stem, case):
    data = unhexlify(case.pop("hex"))
    case.pop("meaning", None)
    if "error" in case:
        try:
            value = cbor.loads(data)
        except cbor.CBORDecodeError:
            return
        try:
            contract_check(stem, case, value)
        except ValueError:
            return
        raise Failure("accepted; expected error: %s" % case["error"])
    # One step at a time, dropping each step's objects: a 64 KiB heap has little room beyond the code.
    value = cbor.loads(data)
    want = to_value(case.pop("value"))
    if not same(value, want):
        raise Failure("decoded %r, expected %r" % (value, want))
    want = None
    gc.collect()
    if not case.get("decode_only"):
        encoded = cbor.dumps(cbor.loads(data, map_type=_ORDERED_MAP))
        if encoded != data:
            raise Failure("re-encoded as %s" % encoded.hex())
        encoded = None
        gc.collect()
    contract_check(stem, case, value)


def load_module(name):
    """Import protocols.<name>, or None if it does not exist."""
    gc.collect()
    try:
        module = __import__("protocols." + name, None, None, [name])
    except ImportError as exc:
        if ("protocols." + name) in str(exc) or name in str(exc):
            return None
        raise
    gc.collect()
    return module


def unload_module(name):
    # A 64 KiB heap holds the codec and one more protocols module at a time, not all of them.
    sys.modules.pop("protocols." + name, None)
    package = sys.modules.get("protocols")
    if package is not None and hasattr(package, name):
        delattr(package, name)
    gc.collect()


def bind_modules(stem):
    """Load what the cases of vector file ``stem`` need; the others are unloaded first."""
    global senml, topics, messages
    senml = topics = messages = None
    for name in ("senml", "topics", "messages"):
        unload_module(name)
    if stem == "topics":
        topics = load_module("topics")
    elif stem == "senml":
        senml = load_module("senml")
    elif stem == "messages":
        module = load_module("messages")
        if module is not None and hasattr(module, "validate"):
            messages = module


def run(vectors_dir):
    passed = 0
    failed = 0
    names = sorted(name for name in os.listdir(vectors_dir) if name.endswith(".json"))
    if not names:
        print("no vector files in %s" % vectors_dir)
        return 0, 1
    for name in names:
        stem = name[:-5]
        bind_modules(stem)
        for case in read_cases(vectors_dir + "/" + name):
            try:
                if stem == "topics":
                    check_topic(case)
                else:
                    check_cbor(stem, case)
                passed += 1
            except Exception as exc:
                failed += 1
                print("FAIL %s:%s: %s: %s" % (name, case.get("name"), type(exc).__name__, exc))
            gc.collect()
    return passed, failed


def main(argv):
    vectors_dir = argv[0] if argv else "protocols/vectors"
    module_dirs = argv[1:] or ["."]
    for directory in reversed(module_dirs):
        sys.path.insert(0, directory)
    global cbor
    cbor = load_module("cbor")
    passed, failed = run(vectors_dir)
    print("%d passed, %d failed" % (passed, failed))
    return failed


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:]) else 0)
