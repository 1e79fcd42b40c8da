"""`reverbere decode` through the real entry point (subprocess), as a technician runs it."""

import json
import subprocess
import sys
from pathlib import Path

from protocols import cbor, senml

REPO = Path(__file__).resolve().parents[2]
DATA = cbor.dumps({1: 3, 2: 17, 3: 1763750000,
                   4: [senml.record("temp", 21.5625), senml.record("hum", 54.5, time=-60)]})
TOPIC = "rvb/v1/lille-fives/a1b2c3d4e5f6/data"


def reverbere(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "gateway.cli.main", "decode", *args], cwd=REPO,
                          input=stdin, capture_output=True, timeout=60, check=False)


def test_decode_hex_with_topic_as_json_resolves_the_pack():
    result = reverbere("--json", "--topic", TOPIC, DATA.hex())
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["topic"] == {"site": "lille-fives", "node_id": "a1b2c3d4e5f6", "channel": "data"}
    assert report["value"]["1"] == 3 and report["size"] == len(DATA)
    assert report["records"] == [{"n": "temp", "v": 21.5625, "t": 1763750000},
                                 {"n": "hum", "v": 54.5, "t": 1763749940}]


def test_decode_raw_bytes_from_stdin_human():
    result = reverbere(stdin=DATA)
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "%d bytes" % len(DATA) in text and '"temp"' in text and "21.5625" in text


def test_human_output_names_units_from_the_registry():
    result = reverbere("--topic", TOPIC, DATA.hex())
    assert result.returncode == 0, result.stderr
    assert "temp" in result.stdout.decode() and "Cel" in result.stdout.decode()


def test_json_output_writes_bytes_as_hex_and_tags_explicitly():
    result = reverbere("--json", cbor.dumps([b"\x01\xff", cbor.Tag(1, 5), float("nan")]).hex())
    assert json.loads(result.stdout)["value"] == ["01ff", {"$tag": 1, "value": 5}, {"$float": "nan"}]


def test_undecodable_payload_exits_5():
    result = reverbere("--json", "1c")
    assert result.returncode == 5
    assert json.loads(result.stdout)["error"] == "ProtocolError"
    assert b"reserved additional information 28" in result.stderr


def test_message_that_breaks_the_contract_exits_5():
    result = reverbere("--topic", TOPIC, cbor.dumps({1: 3}).hex())
    assert result.returncode == 5
    assert b"contract" in result.stderr


def test_bad_hex_and_bad_topic_are_invalid_input():
    assert reverbere("zz").returncode == 2
    assert reverbere("--topic", "rvb/v1/Lille/a/data", DATA.hex()).returncode == 2
