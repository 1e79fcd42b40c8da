"""Board definitions: every shipped board loads; broken files are refused with the file and key named;
exports for the deploy step and the simulator carry what the firmware and device models need."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from boards.loader import BOARDS_DIR, BoardError, firmware_config, load, load_all, parse, sim_wiring
from boards.parts import PARTS

SHIPPED = sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))
SENSOR = (BOARDS_DIR / "esp32-devkitc-sensor.toml").read_text()


def test_every_shipped_board_loads():
    boards = load_all()
    assert set(boards) == set(SHIPPED)
    assert {b.role for b in boards.values()} == {"sensor", "luminaire", "lifi-rx"}
    assert {b.chip for b in boards.values()} >= {"esp32", "esp32c3"}


@pytest.mark.parametrize("name", SHIPPED)
def test_flash_offset_follows_the_chip(name):
    board = load(BOARDS_DIR / f"{name}.toml")
    assert board.flash_offset == {"esp32": 0x1000, "esp32c3": 0x0, "esp32s3": 0x0}[board.chip]


def refused(text: str, name="esp32-devkitc-sensor") -> BoardError:
    with pytest.raises(BoardError) as info:
        parse(Path(f"boards/{name}.toml"), text)
    return info.value


@pytest.mark.parametrize("old, new, key, words", [
    ("scl = 22", 'scl = "22"', "i2c.0.scl", "not of type 'integer'"),
    ("addr = 0x76", "addr = 0x50", "sensor[0].addr", "0x50 is not an address bme280 can take (0x76, 0x77)"),
    ("pin = 27", "pin = 21", "sensor[4].pin", "GPIO21 is already used by i2c.0.sda"),
    ("pin = 27", "pin = 7", "sensor[4].pin", "GPIO7 is wired to the SPI flash"),
    ("adc = 34", "adc = 4", "sensor[3].adc", "GPIO4 is not an ADC1 pin"),
    ("tx = 17", "tx = 36", "uart.2.tx", "GPIO36 is input-only"),
    ("flash_offset = 0x1000", "flash_offset = 0x0", "board.flash_offset", "MicroPython images start at 0x1000"),
    ('chip = "esp32"', 'chip = "esp8266"', "board.chip", "is not one of"),
    ('part = "bh1750"', 'part = "bmp180"', "sensor[1].part", "is not one of"),
    ("uart = 2", "uart = 1", "sensor[2].uart", "UART 1 is not defined in [uart]"),
    ("[uart.2]", "[uart.0]", "uart.0", "UART0 is the console"),
    ("hold_ms = 2000", "hold_ms = -1", "sensor[4].hold_ms", "less than the minimum of 0"),
    ("divider = 2.0", "divider = 2.0\ncolour = 'red'", "sensor[5]", "'colour' was unexpected"),
    ('name = "esp32-devkitc-sensor"', 'name = "other"', "board.name", "must match the file name"),
])
def test_broken_board_is_refused_naming_file_and_key(old, new, key, words):
    assert old in SENSOR
    err = refused(SENSOR.replace(old, new, 1))
    assert f"boards/esp32-devkitc-sensor.toml: {key}: " in str(err)
    assert words in str(err)
    assert any(k == key for k, _ in err.problems)


def test_two_parts_on_one_address_are_refused():
    text = SENSOR + '\n[[sensor]]\npart = "bme280"\nbus = 0\naddr = 0x76\n'
    err = refused(text)
    assert "sensor[6].addr: 0x76 on bus 0 is already used by sensor[0]" in str(err)


def test_role_requirements_and_hysteresis():
    lum = (BOARDS_DIR / "luminaire-controller.toml").read_text()
    no_led = lum[:lum.index("[led]")] + lum[lum.index("[lifi_tx]"):]
    assert "led: a luminaire board needs a [led] table" in str(refused(no_led, "luminaire-controller"))
    flapping = lum.replace("day_lux = 60.0", "day_lux = 10.0")
    assert "lighting.day_lux: must be above lighting.dark_lux" in str(refused(flapping, "luminaire-controller"))
    assert "needs at least one [[sensor]]" in str(refused(SENSOR[:SENSOR.index("[[sensor]]")]))


def test_unreadable_and_invalid_toml_name_the_file(tmp_path):
    bad = tmp_path / "x.toml"
    bad.write_text("[board\nname = 1")
    with pytest.raises(BoardError, match=r"x\.toml: not valid TOML"):
        load(bad)
    with pytest.raises(BoardError, match=r"missing\.toml: cannot read"):
        load(tmp_path / "missing.toml")


def test_firmware_config_is_json_and_holds_what_the_role_builds_from():
    cfg = firmware_config(load(BOARDS_DIR / "luminaire-controller.toml"))
    assert json.loads(json.dumps(cfg)) == cfg
    assert cfg["board"] == {"name": "luminaire-controller", "chip": "esp32", "flash_size": "4MB",
                            "role": "luminaire", "furniture": "lamp-post"}
    role = cfg["role"]
    assert role["name"] == "luminaire"
    assert role["i2c"] == {"0": {"scl": 22, "sda": 21, "freq": 400000}}
    assert [p["part"] for p in role["parts"]] == ["ina219", "bh1750"]
    assert role["led"]["pin"] == 25 and role["lifi_tx"]["rmt_channel"] == 0
    assert role["lighting"]["safe_level"] == 70


@pytest.mark.parametrize("name", SHIPPED)
def test_sim_wiring_places_every_part_where_the_board_says(name):
    board = load(BOARDS_DIR / f"{name}.toml")
    wiring = sim_wiring(board, seed=3)
    assert wiring["seed"] == 3 and wiring["faults"] == {}
    for sensor in board.data.get("sensor", []):
        link = PARTS[sensor["part"]].link
        if link == "i2c":
            assert {"part": sensor["part"], "addr": sensor["addr"]}.items() <= next(
                m for m in wiring["i2c"][str(sensor["bus"])] if m["addr"] == sensor["addr"]).items()
        elif link == "uart":
            assert wiring["uart"][str(sensor["uart"])]["part"] == sensor["part"]
        elif link == "adc":
            assert str(sensor["adc"]) in wiring["adc"]
        else:
            assert wiring["pin"][str(sensor["pin"])]["part"] == "pir"
    if "photodiode" in board.data:
        assert wiring["adc"][str(board.data["photodiode"]["adc"])] == {"part": "photodiode"}


def test_command_line_checks_and_exports():
    run = [sys.executable, "-m", "boards.loader"]
    ok = subprocess.run(run + ["check"], capture_output=True, text=True, check=False, cwd=REPO)
    assert ok.returncode == 0 and ok.stdout.count(": ok (") == len(SHIPPED)
    out = subprocess.run(run + ["export", "esp32c3-sensor"], capture_output=True, text=True, check=False, cwd=REPO)
    assert json.loads(out.stdout)["board"]["chip"] == "esp32c3"
    bad = subprocess.run(run + ["check", "/nonexistent/board.toml"], capture_output=True, text=True, check=False, cwd=REPO)
    assert bad.returncode == 2 and "board.toml: cannot read" in bad.stderr
