"""The Improv codec against the spec's layout and checksum rule, under CPython and the micropython binary."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from protocols import improv

REPO = Path(__file__).resolve().parents[2]

# The Wi-Fi settings example of the Improv spec: SSID "MyWirelessAP", password "mysecurepassword"
# -> 01 1E 0C "MyWirelessAP" 10 "mysecurepassword"; serial frames add "IMPROV" 01 type length ... sum.
SPEC_WIFI_RPC = bytes.fromhex("011e0c") + b"MyWirelessAP" + b"\x10" + b"mysecurepassword"


def sum_rule(data):
    return sum(data) % 256


def codec_vectors(module):
    """Hex of each encoding, computed with ``module`` (the same function runs on both interpreters)."""
    rpc = module.rpc(module.CMD_WIFI_SETTINGS, module.pack_strings(["MyWirelessAP", "mysecurepassword"]))
    return {
        "wifi_rpc": rpc.hex(),
        "wifi_frame": module.frame(module.TYPE_RPC, rpc).hex(),
        "ble_wifi": module.ble_rpc(module.CMD_WIFI_SETTINGS,
                                   module.pack_strings(["MyWirelessAP", "mysecurepassword"])).hex(),
        "state_frame": module.frame(module.TYPE_CURRENT_STATE, bytes((module.STATE_PROVISIONED,))).hex(),
        "get_state": module.frame(module.TYPE_RPC, module.rpc(module.CMD_GET_STATE)).hex(),
        "identity": module.rpc(module.CMD_RVB_IDENTITY,
                               module.pack_strings(["lamp-0042", "lille", "pole-17", "50.63", "3.06"])).hex(),
    }


def test_wifi_settings_match_the_spec_example():
    rpc = improv.rpc(improv.CMD_WIFI_SETTINGS, improv.pack_strings(["MyWirelessAP", "mysecurepassword"]))
    assert rpc == SPEC_WIFI_RPC
    frame = improv.frame(improv.TYPE_RPC, rpc)
    assert frame[:9] == b"IMPROV\x01\x03\x20"  # length: command, size and 30 payload bytes
    assert frame[9:-1] == SPEC_WIFI_RPC
    assert frame[-1] == sum_rule(frame[:-1])
    assert improv.ble_rpc(improv.CMD_WIFI_SETTINGS, rpc[2:]) == SPEC_WIFI_RPC + bytes((sum_rule(SPEC_WIFI_RPC),))


def test_reader_finds_frames_among_console_text_and_counts_the_rest():
    reader = improv.FrameReader()
    state = improv.frame(improv.TYPE_CURRENT_STATE, b"\x02")
    frames = reader.feed(b"I (312) boot: IMPRO\r\n" + state + b"\n>>> " + state)
    assert frames == [(improv.TYPE_CURRENT_STATE, b"\x02")] * 2
    assert reader.skipped == len(b"I (312) boot: IMPRO\r\n") + len(b"\n>>> ")


def test_reader_rejects_a_bad_checksum_then_recovers():
    reader = improv.FrameReader()
    bad = bytearray(improv.frame(improv.TYPE_RPC, improv.rpc(improv.CMD_DEVICE_INFO)))
    bad[-1] ^= 0x55
    with pytest.raises(improv.ChecksumError):
        reader.feed(bytes(bad))
    assert reader.bad_checksum == 1
    assert reader.feed(improv.frame(improv.TYPE_ERROR_STATE, b"\x00")) == [(improv.TYPE_ERROR_STATE, b"\x00")]


def test_reader_drops_an_unknown_version():
    reader = improv.FrameReader()
    other = bytearray(improv.frame(improv.TYPE_CURRENT_STATE, b"\x02"))
    other[6] = 2
    assert reader.feed(bytes(other)) == []
    assert reader.bad_version == 1


def test_payload_errors_are_typed():
    with pytest.raises(improv.ImprovError, match="declares 5 payload bytes"):
        improv.parse_rpc(b"\x01\x05ab")
    with pytest.raises(improv.ImprovError, match="declares 9 bytes"):
        improv.unpack_strings(b"\x09abc")
    with pytest.raises(improv.ImprovError, match="at most"):
        improv.frame(improv.TYPE_RPC, bytes(256))
    with pytest.raises(improv.ChecksumError):
        improv.parse_ble_rpc(SPEC_WIFI_RPC + b"\x00")
    assert improv.parse_ble_rpc(SPEC_WIFI_RPC + bytes((sum_rule(SPEC_WIFI_RPC),))) == (1, SPEC_WIFI_RPC[2:])
    assert improv.unpack_strings(improv.pack_strings(["é", "", "x" * 255])) == ["é", "", "x" * 255]


MP_SCRIPT = """
import sys
sys.path.insert(0, %r)
from protocols import improv as module
%s
vectors = codec_vectors(module)
reader = module.FrameReader()
bad = bytearray(module.frame(module.TYPE_RPC, module.rpc(module.CMD_DEVICE_INFO)))
bad[-1] ^= 0x55
try:
    reader.feed(bad)
    vectors["bad"] = "accepted"
except module.ChecksumError:
    vectors["bad"] = "refused"
vectors["strings"] = module.unpack_strings(module.pack_strings(["lille", "", "pole-17"]))
import json
print(json.dumps(vectors))
"""


@pytest.mark.micropython
def test_micropython_encodes_the_same_bytes():
    import inspect

    binary = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    assert binary, "the micropython binary is missing"
    script = MP_SCRIPT % (str(REPO), inspect.getsource(codec_vectors))
    result = subprocess.run([binary, "-X", "heapsize=64K", "-c", script], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    on_chip = json.loads(result.stdout)
    assert on_chip.pop("bad") == "refused"
    assert on_chip.pop("strings") == ["lille", "", "pole-17"]
    assert on_chip == codec_vectors(improv)
    assert bytes.fromhex(on_chip["wifi_rpc"]) == SPEC_WIFI_RPC
