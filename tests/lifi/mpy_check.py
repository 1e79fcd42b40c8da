# Modem core vectors run by the MicroPython unix port (invoked from test_mpy.py with the repository
# path as argument); prints "PASS <check>" per check and "ALL OK" at the end. Common subset only.
import sys

REPO = sys.argv[1] if len(sys.argv) > 1 else "."
sys.path.insert(0, REPO)
sys.path.insert(0, REPO + "/tests/lifi")

import reference as ref  # noqa: E402 - found through the path set above

from protocols.lifi import cc, dimming, fec, frame, gf16, linecode, modes, rs, tx  # noqa: E402


def check(name, ok):
    if not ok:
        print("FAIL", name)
        raise SystemExit(1)
    print("PASS", name)


check("gf16 tables", all(gf16.mul(a, b) == ref.gf_mul(a, b) for a in range(16) for b in range(16)))

ok = True
for k in (2, 4, 7, 11):
    ok = ok and list(rs.generator(15 - k)) == ref.rs_generator(15 - k)
    data = list(ref.lcg_bytes(k, k))
    data = [d & 15 for d in data]
    word = rs.encode_block(data, k)
    ok = ok and list(word[k:]) == ref.rs_parity(data, k)
    bad = bytearray(word)
    t = (15 - k) // 2
    for i in range(t):
        bad[2 * i + 1] ^= (i % 15) + 1
    ok = ok and rs.decode_block(bad, k) == t and bad == word
check("rs generator, parity, correction to capacity", ok)

ok = True
for k in (2, 4, 7, 11):
    n_par = 15 - k
    word = rs.encode_block([d & 15 for d in ref.lcg_bytes(k + 1, k)], k)
    for f in range(n_par + 1):
        e = (n_par - f) // 2
        bad = bytearray(word)
        erased = list(range(f))
        for i in erased:
            bad[i] = 0
        for i in range(f, f + e):
            bad[i] ^= 5
        rs.decode_block(bad, k, erased)
        ok = ok and bad == word
check("rs errors and erasures to capacity", ok)

word = rs.encode_block([3, 1, 4, 1, 5, 9, 2], 7)
bad = bytearray(word)
reliability = [9] * 15
for i in (1, 5, 9, 13, 14):  # five errors, one past t = 4: GMD with the four marked unsure
    bad[i] ^= 6
for i in (1, 5, 9, 13):
    reliability[i] = 1
check("rs gmd decoding", rs.decode_block_gmd(bad, 7, reliability) == (5, 2) and bad == word)

bits = [b & 1 for b in ref.lcg_bytes(5, 120)]
check("cc mother code", list(cc.encode(bits, (1, 3))) == ref.cc_encode_rate_third(bits))
check("cc impulse", list(cc.encode([1], (1, 3)))[:6] == [1, 1, 1, 0, 1, 1])
ok = True
for rate in cc.RATES:
    coded = bytearray(255 if b else 0 for b in cc.encode(bits, rate))
    coded[10] ^= 255
    coded[len(coded) // 2] ^= 255
    ok = ok and list(cc.decode(coded, rate, len(bits))) == bits
check("viterbi with errors, every rate", ok)

check("crc16", frame.crc16(b"123456789") == 0xD64E and
      frame.crc16(ref.lcg_bytes(3, 50)) == ref.crc16_bitwise(ref.lcg_bytes(3, 50)))

b8 = bytearray(b & 1 for b in ref.lcg_bytes(8, 64))
nibs = bytearray(b & 15 for b in ref.lcg_bytes(9, 64))
check("line codes", linecode.manchester_decode(linecode.manchester_encode(b8), 64) == b8 and
      linecode.decode_4b6b(linecode.encode_4b6b(nibs), 64) == nibs)

ok = True
payload = bytes(ref.lcg_bytes(12, 32))
for m in modes.MODES:
    hm = modes.header_mode(m)
    psdu = payload + bytes([frame.crc16(payload) >> 8, frame.crc16(payload) & 255])
    header = frame.header_bytes(m, len(psdu), False)
    parts = []
    for data, mode in ((header, hm), (psdu, m)):
        if mode.modulation == "ook":
            parts.append(linecode.manchester_encode(fec.encode_bits(data, mode.rs, mode.cc)))
        else:
            parts.append(linecode.encode_4b6b(fec.encode_nibbles(data, mode.rs)))
    expected = bytearray([1, 0] * (frame.FLP_CHIPS // 2)) + frame.tdp_bits() + parts[0] + parts[1]
    chips = frame.build_frame(payload, m)
    ok = ok and chips == expected and frame.parse_chips(chips, m) == payload
    ok = ok and frame.parse_chips(frame.build_frame(payload, m, dim=0.3), m) == payload
check("frames: builder == step-by-step chain, round trip plain and dimmed, every mode", ok)

chips = frame.build_frame(payload, "ook-11.67k")
for i in range(2000, 5000, 300):
    i &= ~1
    chips[i] ^= 1
    chips[i + 1] ^= 1
f = frame.parse_frame(chips, "ook-11.67k")
check("coded frame repairs bit errors", f.payload == payload and f.corrected >= 10)

comp = dimming.Compensator(0.8)
stream = dimming.compensate(bytearray([1, 0] * 2000), comp)
ones = 0
worst = 0.0
for i in range(len(stream)):
    ones += stream[i]
    dev = abs(ones - 0.8 * (i + 1))
    worst = max(worst, dev)
check("compensation keeps the light level", worst <= 2.0)

items = tx.rmt_items(frame.build_frame(b"rmt", "ook-100k"), "ook-100k", 80000000)
check("rmt items", sum(t for _, t in items) == 400 * frame.frame_chip_count(3, "ook-100k"))

print("ALL OK")
