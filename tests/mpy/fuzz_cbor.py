"""Feed protocols.cbor.loads random and mutated inputs; only CBORDecodeError may come out.

Runs under MicroPython and CPython from the repository root: fuzz_cbor.py [ROUNDS [SEED]].
Prints one line per escaped exception and a final "N inputs, N escaped" line; exit status 1 on escapes.
"""

import random
import sys

sys.path.insert(0, ".")

from protocols import cbor

SEEDS = (
    (b"\xa4\x01\x03\x02\x11\x03\x1a\x69\x20\xb0\x70\x04\x82\xa2\x00\x64temp\x02\xf9\x4d\x64"
     b"\xa2\x00\x63hum\x02\xf9\x52\xd0"),
    b"\x9f\x01\x82\x02\x03\x9f\x04\x05\xff\xff",
    b"\xbf\x61\x61\x01\x61\x62\x9f\x02\x03\xff\xff",
    b"\x5f\x42\x01\x02\x43\x03\x04\x05\xff",
    b"\x7f\x65strea\x64ming\xff",
    b"\xc2\x49\x01\x00\x00\x00\x00\x00\x00\x00\x00",
    b"\xfb\x3f\xf1\x99\x99\x99\x99\x99\x9a",
    b"\xd8\x20\x76http://www.example.com",
)


def attempt(data):
    try:
        cbor.loads(data)
    except cbor.CBORDecodeError:
        pass
    except Exception as exc:  # anything else is a decoder bug
        print("ESCAPED %s: %s on %s" % (type(exc).__name__, exc, data.hex() if hasattr(data, "hex") else data))
        return 1
    return 0


def main(rounds, seed):
    random.seed(seed)
    escaped = 0
    count = 0
    for _ in range(rounds):
        length = random.getrandbits(5)
        data = bytes([random.getrandbits(8) for _ in range(length)])
        escaped += attempt(data)
        source = bytearray(SEEDS[random.getrandbits(3)])
        for _ in range(1 + random.getrandbits(2)):
            source[random.getrandbits(8) % len(source)] = random.getrandbits(8)
        escaped += attempt(bytes(source[:random.getrandbits(8) % (len(source) + 1)]))
        escaped += attempt(bytes(source))
        count += 3
    print("%d inputs, %d escaped" % (count, escaped))
    return escaped


if __name__ == "__main__":
    arguments = sys.argv[1:]
    rounds = int(arguments[0]) if arguments else 3000
    seed = int(arguments[1]) if len(arguments) > 1 else 2
    sys.exit(1 if main(rounds, seed) else 0)
