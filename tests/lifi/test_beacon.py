"""Authenticated LiFi beacon: valid accepted; forged, replayed, truncated refused (CPython and MicroPython)."""

import hashlib
import hmac
import os
import subprocess
from pathlib import Path

import pytest

from sim.board_process import find_micropython

from protocols.lifi import beacon as b

REPO = Path(__file__).resolve().parents[2]
MICROPYTHON = find_micropython()
MASTER = b"site master key of lille-fives!!"
LAMP = "a4cf12f00d01"


def make_pair(counter=0, **verifier_options):
    keys = {bytes.fromhex(LAMP): b.derive_lamp_key(MASTER, LAMP)}
    signer = b.BeaconSigner(LAMP, keys[bytes.fromhex(LAMP)], counter=counter)
    return signer, b.BeaconVerifier(keys.get, **verifier_options)


@pytest.mark.parametrize("key", [b"", b"short", b"x" * 64, b"y" * 65, os.urandom(100)])
def test_hmac_matches_the_standard_library(key):
    message = os.urandom(37)
    assert b.hmac_sha256(key, message) == hmac.new(key, message, hashlib.sha256).digest()


def test_beacon_layout():
    signer, _ = make_pair(counter=41)
    data = signer.next_beacon()
    assert len(data) == b.BEACON_SIZE == 19
    assert data[0] == b.BEACON_VERSION
    assert data[1:7] == bytes.fromhex(LAMP)
    assert int.from_bytes(data[7:11], "big") == 42
    key = b.derive_lamp_key(MASTER, LAMP)
    assert data[11:] == hmac.new(key, data[:11], hashlib.sha256).digest()[:8]


def test_valid_beacons_accepted_in_order_and_out_of_order_inside_window():
    signer, verifier = make_pair()
    beacons = [signer.next_beacon() for _ in range(10)]
    for data in beacons[5:]:
        assert verifier.verify(data).lamp_id == bytes.fromhex(LAMP)
    # a receiver may deliver older beacons late: inside the window they are accepted once
    assert verifier.verify(beacons[2]).counter == 3
    assert verifier.counts["accepted"] == 6


def test_replayed_beacon_refused_and_counted():
    signer, verifier = make_pair()
    data = signer.next_beacon()
    verifier.verify(data)
    with pytest.raises(b.BeaconReplayed):
        verifier.verify(data)
    assert verifier.counts["replayed"] == 1


def test_beacon_older_than_window_refused():
    signer, verifier = make_pair(window=8)
    old = signer.next_beacon()
    for _ in range(8):
        last = signer.next_beacon()
    verifier.verify(last)
    with pytest.raises(b.BeaconReplayed, match="older than the replay window"):
        verifier.verify(old)


@pytest.mark.parametrize("position", [0, 3, 8, 12, 18])
def test_forged_beacon_refused(position):
    signer, verifier = make_pair()
    forged = bytearray(signer.next_beacon())
    forged[position] ^= 0x10
    with pytest.raises(b.BeaconError) as info:
        verifier.verify(bytes(forged))
    # the version byte changes the format; any other change breaks the tag or names an unknown lamp
    expected = {0: b.BeaconMalformed, 3: b.BeaconUnknownLamp}.get(position, b.BeaconForged)
    assert isinstance(info.value, expected)
    assert verifier.counts["accepted"] == 0


def test_beacon_signed_with_another_lamps_key_refused():
    other = b.BeaconSigner(LAMP, b.derive_lamp_key(MASTER, "a4cf12f00d02"))
    _, verifier = make_pair()
    with pytest.raises(b.BeaconForged):
        verifier.verify(other.next_beacon())


@pytest.mark.parametrize("length", [0, 1, 11, 18])
def test_truncated_beacon_refused(length):
    signer, verifier = make_pair()
    with pytest.raises(b.BeaconTruncated):
        verifier.verify(signer.next_beacon()[:length])
    assert verifier.counts["truncated"] == 1


def test_counter_exhaustion_is_an_error_not_a_wrap():
    signer, _ = make_pair(counter=0xFFFFFFFE)
    signer.next_beacon()
    with pytest.raises(b.CounterExhausted):
        signer.next_beacon()


def test_window_bound_drops_least_recent_lamp_and_counts_it():
    keys = {bytes([0, 0, 0, 0, 0, i]): bytes([i]) * 16 for i in range(3)}
    verifier = b.BeaconVerifier(keys.get, max_lamps=2)
    signers = [b.BeaconSigner(lamp, key) for lamp, key in keys.items()]
    for signer in signers:
        verifier.verify(signer.next_beacon())
    assert verifier.counts["evicted"] == 1
    assert verifier.counts["accepted"] == 3


@pytest.mark.micropython
def test_beacon_under_micropython():
    result = subprocess.run(
        [MICROPYTHON, "-X", "heapsize=64K", str(REPO / "tests/lifi/mpy_beacon_check.py"), str(REPO)],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("ALL OK")
    assert "forged refused" in result.stdout and "replay refused" in result.stdout
