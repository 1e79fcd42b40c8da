"""Flashing a MicroPython image onto a board through esptool's public API (v5 ``esptool.cmds``).

The image is checked before the board is touched (an ESP image of the board's chip with a valid
checksum and hash); the chip found on the port is checked against the board definition; the image is
written at the board's MicroPython offset and verified by esptool's MD5 read-back. esptool reports
through its logger: `EventLogger` turns its progress bars into `Progress` events for the caller.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from esp_pylib.logger import EspLog
from esptool import cmds
from esptool.bin_image import LoadFirmwareImage
from esptool.logger import TemplateLogger, log
from esptool.util import FatalError
from serial import SerialException

from boards.loader import Board
from gateway.errors import InvalidInput, NotFound, ProtocolError, VerificationFailed

ESP_IMAGE_MAGIC = 0xE9


class BadImage(InvalidInput):
    """The firmware file is not an ESP image for the board's chip, or it is corrupt."""


class WrongChip(InvalidInput):
    """The chip on the port is not the one the board definition names."""


class NoDevice(NotFound):
    """No ESP bootloader answers on the port."""


@dataclass(frozen=True)
class ImageSummary:
    chip: str
    size: int
    entry: int
    segments: int
    sha256_valid: bool


@dataclass(frozen=True)
class Progress:
    stage: str  # "erase", "write", "verify"
    done: int
    total: int


@dataclass(frozen=True)
class FlashReport:
    board: str
    chip: str
    port: str
    offset: int
    size: int
    erased: bool


def chip_key(esptool_name: str) -> str:
    """esptool's CHIP_NAME ("ESP32-C3") -> the board files' spelling ("esp32c3")."""
    return esptool_name.lower().replace("-", "")


def inspect_image(data: bytes, chip: str) -> ImageSummary:
    """Check that ``data`` starts with a valid ESP image for ``chip``; BadImage otherwise."""
    if not data:
        raise BadImage("the firmware file is empty")
    if data[0] != ESP_IMAGE_MAGIC:
        raise BadImage("not an ESP firmware image (first byte %#04x, expected %#04x)" % (data[0], ESP_IMAGE_MAGIC))
    try:
        image = LoadFirmwareImage(chip, data)
    except (FatalError, ValueError, IndexError) as exc:
        raise BadImage("unreadable %s image: %s" % (chip, exc)) from exc
    expected = cmds.CHIP_DEFS[chip].IMAGE_CHIP_ID
    if image.chip_id != expected:
        found = next((name for name, rom in cmds.CHIP_DEFS.items()
                      if getattr(rom, "IMAGE_CHIP_ID", None) == image.chip_id), "chip id %d" % image.chip_id)
        raise BadImage("the image is built for %s, the board has an %s" % (found, chip))
    if image.checksum != image.calculate_checksum():
        raise BadImage("the image checksum is wrong: the file is corrupt")
    digest_ok = not image.append_digest or image.stored_digest == image.calc_digest
    if not digest_ok:
        raise BadImage("the image SHA-256 does not match: the file is corrupt")
    return ImageSummary(chip, len(data), image.entrypoint, len(image.segments), bool(image.append_digest))


class EventLogger(TemplateLogger):
    """esptool's custom logger hook: progress bars become Progress events, text goes to `lines`."""

    def __init__(self, on_progress: Callable[[Progress], None]) -> None:
        self.on_progress = on_progress
        self.current_stage = "write"
        self.lines: list[str] = []

    def print(self, *args, **kwargs) -> None:
        self.lines.append(" ".join(str(a) for a in args))

    def note(self, message: str) -> None:
        self.lines.append("note: " + message)

    def warning(self, message: str) -> None:
        self.lines.append("warning: " + message)

    def error(self, message: str) -> None:
        self.lines.append("error: " + message)

    def stage(self, finish: bool = False) -> None:  # esptool's collapsible sections; nothing to fold here
        pass

    def progress_bar(self, cur_iter: int, total_iters: int, prefix: str = "", suffix: str = "",
                     bar_length: int = 30) -> None:
        self.on_progress(Progress(self.current_stage, cur_iter, total_iters))

    def set_verbosity(self, verbosity: str) -> None:
        pass


@contextlib.contextmanager
def esptool_logger(logger: EventLogger) -> Iterator[EventLogger]:
    """Install ``logger`` as esptool's logger for the block, then put the previous one back."""
    previous = EspLog.instance
    log.set_logger(logger)
    try:
        yield logger
    finally:
        EspLog.instance = previous


def connect_bootloader(port: str, baud: int) -> cmds.ESPLoader:
    """Open ``port`` and sync with the ROM bootloader; NoDevice when nothing answers."""
    try:
        return cmds.detect_chip(port, baud=baud, connect_attempts=3)
    except (FatalError, SerialException, OSError) as exc:
        raise NoDevice("no ESP bootloader answers on %s: %s" % (port, exc)) from exc


def flash(board: Board, port: str, firmware: Path | bytes, erase: bool = False, baud: int = 460800,
          on_progress: Callable[[Progress], None] = lambda _: None,
          connect: Callable[[str, int], cmds.ESPLoader] | None = None) -> FlashReport:
    """Write ``firmware`` onto the board on ``port`` at the board's MicroPython offset and verify it.

    esptool's output (connection attempts, notes) goes to the logger's `lines`, never to stdout, so
    the CLI's JSON stream stays clean."""
    data = firmware if isinstance(firmware, bytes) else _read(firmware)
    logger = EventLogger(on_progress)
    with esptool_logger(logger):
        summary = inspect_image(data, board.chip)
        esp = (connect or connect_bootloader)(port, baud)
        try:
            found = chip_key(esp.CHIP_NAME)
            if found != board.chip:
                raise WrongChip("the chip on %s is an %s; board %s needs an %s"
                                % (port, found, board.name, board.chip))
            _write(esp, board.flash_offset, data, erase, logger)
        except (SerialException, OSError) as exc:
            raise NoDevice("lost the board on %s: %s" % (port, exc)) from exc
        finally:
            with contextlib.suppress(Exception):
                esp._port.close()
    return FlashReport(board.name, found, port, board.flash_offset, summary.size, erase)


def _write(esp: cmds.ESPLoader, offset: int, data: bytes, erase: bool, logger: EventLogger) -> None:
    try:
        esp = cmds.run_stub(esp)
        cmds.attach_flash(esp)
        if erase:
            logger.current_stage = "erase"
            cmds.erase_flash(esp)
        logger.current_stage = "write"
        cmds.write_flash(esp, [(offset, data)])
        logger.current_stage = "verify"
        cmds.verify_flash(esp, [(offset, data)])
        cmds.reset_chip(esp, "hard-reset")
    except FatalError as exc:
        text = str(exc)
        if any(word in text.lower() for word in ("verif", "md5", "digest")):
            raise VerificationFailed("flash read-back differs from the image: %s" % text) from exc
        raise ProtocolError("esptool: %s" % text) from exc


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise NotFound("cannot read firmware %s: %s" % (path, exc)) from exc
