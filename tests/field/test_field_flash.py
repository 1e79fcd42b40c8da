"""Flashing without a chip: esptool's chip-less functions on a MicroPython-like image, and esptool's
real write/verify path against a loader whose serial commands are replaced by a bytearray flash."""

import pytest
from esptool import cmds
from fakeloader import fake_loader, micropython_like_image

from boards.loader import load_named
from gateway.errors import VerificationFailed
from gateway.field import flash


@pytest.fixture(scope="module")
def esp32_image():
    return micropython_like_image("esp32")


def test_merged_image_is_readable_by_esptool_image_info(esp32_image, capsys):
    cmds.image_info(esp32_image, "esp32")
    shown = capsys.readouterr().out
    assert "Checksum:" in shown and "(valid)" in shown
    summary = flash.inspect_image(esp32_image, "esp32")
    assert (summary.chip, summary.segments, summary.sha256_valid) == ("esp32", 2, True)


def test_bad_images_are_refused_before_the_board_is_touched(esp32_image):
    with pytest.raises(flash.BadImage, match="not an ESP firmware image"):
        flash.inspect_image(b"<html>404</html>", "esp32")
    with pytest.raises(flash.BadImage, match="empty"):
        flash.inspect_image(b"", "esp32")
    corrupt = bytearray(esp32_image)
    corrupt[0x200] ^= 0xFF
    with pytest.raises(flash.BadImage, match="corrupt"):
        flash.inspect_image(bytes(corrupt), "esp32")
    with pytest.raises(flash.BadImage, match="built for esp32, the board has an esp32c3"):
        flash.inspect_image(esp32_image, "esp32c3")


def test_flash_writes_at_the_board_offset_verifies_and_reports_progress(esp32_image):
    board = load_named("esp32-devkitc-sensor")
    loader = fake_loader("esp32")
    events = []
    report = flash.flash(board, "fake://esp", esp32_image, erase=True, on_progress=events.append,
                         connect=lambda port, baud: loader)
    assert report.offset == board.flash_offset == 0x1000
    assert loader.flash[0x1000:0x1000 + len(esp32_image)] == esp32_image
    assert loader.calls[:2] == ["stub", "erase"] and loader.calls[-1] == "reset"
    assert ("write", 0x1000, len(esp32_image)) in loader.calls
    assert loader._port.closed
    writes = [e for e in events if e.stage == "write"]
    assert writes and writes[-1].done == writes[-1].total
    assert {e.stage for e in events} >= {"write"}


def test_wrong_chip_is_refused_without_writing(esp32_image):
    board = load_named("esp32c3-sensor")
    loader = fake_loader("esp32")
    with pytest.raises(flash.WrongChip, match="is an esp32; board esp32c3-sensor needs an esp32c3"):
        flash.flash(board, "fake://esp", micropython_like_image("esp32c3"), connect=lambda p, b: loader)
    assert loader.calls == [] and loader._port.closed


def test_no_device_on_the_port():
    board = load_named("esp32-devkitc-sensor")
    with pytest.raises(flash.NoDevice) as raised:
        flash.flash(board, "/dev/does-not-exist", micropython_like_image("esp32"))
    assert raised.value.exit_code == 3


def test_corrupted_write_is_caught_by_the_read_back(esp32_image):
    board = load_named("esp32-devkitc-sensor")
    loader = fake_loader("esp32", corrupt_writes=True)
    with pytest.raises(VerificationFailed):
        flash.flash(board, "fake://esp", esp32_image, connect=lambda p, b: loader)
    assert "reset" not in loader.calls


def test_esptool_logger_is_restored_after_flashing(esp32_image):
    from esp_pylib.logger import EspLog

    before = EspLog.instance
    flash.flash(load_named("esp32-devkitc-sensor"), "fake://esp", esp32_image,
                connect=lambda p, b: fake_loader("esp32"))
    assert EspLog.instance is before
