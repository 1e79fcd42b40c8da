# Low-rate receiver profile under the MicroPython unix port (invoked from test_demod_lowrate.py): beacons
# built by the core, sent as light with clock offset and noise, received, then authenticated.
# Prints "ALL OK" at the end and one figure line "us_per_sample N". Common subset only.
import sys
import time
from array import array

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else ".")

from protocols.lifi import beacon, dimming, frame, rx_lowrate
from protocols.lifi.modes import mode_by_name


def ticks_us():
    return time.ticks_us() if hasattr(time, "ticks_us") else int(time.time() * 1e6)


MODE = mode_by_name("ook-100k")
SPS = 4
KEY = b"per-lamp key for a4cf12f00d01 .."

signer = beacon.BeaconSigner("a4cf12f00d01", KEY, counter=7)
sent = [signer.next_beacon() for _ in range(3)]
chips = bytearray(dimming.idle_chips(80, MODE))
for payload in sent:
    chips += frame.build_frame(payload, MODE)
    chips += dimming.idle_chips(80, MODE)
light = dimming.light_samples(chips, MODE, None, SPS)

seed = 12345


def noise():
    # sum of four uniform draws from a small LCG: roughly Gaussian, +-120 codes at most
    global seed
    total = 0
    for _ in range(4):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        total += (seed >> 16) % 61 - 30
    return total


# receiver ADC clock 300 ppm fast: sample n sees transmitter sample floor(n / (1 + 3e-4)); the codes
# are produced block by block into one preallocated buffer, as an ADC's DMA would deliver them
count = int(len(light) * 1.0003) - 1
block = array("H", bytes(2 * 256))
received = []
rx = rx_lowrate.LowRateReceiver(MODE, SPS, on_frame=received.append)
elapsed = 0
n = 0
while n < count:
    size = min(256, count - n)
    for i in range(size):
        block[i] = 300 + 900 * light[int((n + i) / 1.0003)] + noise()
    view = block if size == 256 else block[:size]
    start = ticks_us()
    rx.feed(view)
    elapsed += ticks_us() - start
    n += size
assert received == sent, (received, rx.stats)
print("received", len(received), rx.stats)

verifier = beacon.BeaconVerifier(lambda lamp: KEY)
for payload in received:
    verifier.verify(payload)
try:
    verifier.verify(received[0])
    raise AssertionError("replay accepted")
except beacon.BeaconReplayed:
    pass
print("authenticated")
print("us_per_sample %.2f" % (elapsed / count))
print("ALL OK")
