# Beacon checks run by the MicroPython unix port (invoked from test_beacon.py); prints one line per
# check and "ALL OK" at the end. Common subset only.
import sys

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else ".")

from protocols.lifi import beacon as b

KEY = b"k" * 32
LAMP = "a4cf12f00d01"

signer = b.BeaconSigner(LAMP, KEY, counter=100)
verifier = b.BeaconVerifier(lambda lamp: KEY if lamp == signer.lamp_id else None)
first = signer.next_beacon()
assert len(first) == b.BEACON_SIZE
beacon = verifier.verify(first)
assert beacon.counter == 101, beacon.counter
print("valid accepted")


def refused(data, kind):
    try:
        verifier.verify(data)
    except kind:
        return True
    return False


assert refused(first, b.BeaconReplayed)
print("replay refused")
forged = bytearray(first)
forged[-1] ^= 1
assert refused(bytes(forged), b.BeaconForged)
moved = bytearray(signer.next_beacon())
moved[10] ^= 1  # counter changed, tag kept
assert refused(bytes(moved), b.BeaconForged)
print("forged refused")
assert refused(first[:-1], b.BeaconTruncated)
print("truncated refused")
assert verifier.counts["accepted"] == 1 and verifier.counts["replayed"] == 1
assert verifier.counts["forged"] == 2 and verifier.counts["truncated"] == 1
# RFC 4231 test case 2 for the hand-written HMAC
tag = b.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
assert tag[:4] == bytes([0x5b, 0xdc, 0xc1, 0x46]), tag
print("hmac rfc4231")
print("ALL OK")
