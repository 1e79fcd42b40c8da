"""A loader behind esptool's ESPLoader interface for flashing without a chip.

It subclasses esptool's own chip class and replaces only the serial commands with a bytearray flash,
so esptool's real write_flash / verify_flash / erase_flash / reset_chip run unchanged against it."""

import hashlib
import zlib

from esptool.bin_image import ELFSection, ESP32FirmwareImage
from esptool.targets import CHIP_DEFS


class FakePort:
    port = "fake://esp"
    closed = False

    def close(self):
        self.closed = True


def fake_loader(chip, corrupt_writes=False):
    """A connected loader of ``chip`` ("esp32", "esp32c3"...); with ``corrupt_writes`` one bit of
    every written block flips, as a bad cable would do."""

    class FakeLoader(CHIP_DEFS[chip]):
        IS_STUB = True
        FLASH_WRITE_SIZE = 0x4000

        def __init__(self):  # no serial port: esptool's own __init__ would open one
            self._port = FakePort()
            self.secure_download_mode = False
            self.stub_is_disabled = False
            self.flash = bytearray(b"\xff" * (4 * 1024 * 1024))
            self.calls = []
            self._trace_enabled = False
            self.cache = {"flash_id": None, "chip_id": None, "uart_no": None, "usb_pid": None}
            self._pos = 0
            self._inflate = None

        def run_stub(self, stub=None):  # the stub would be uploaded to RAM; this loader is its own stub
            self.calls.append("stub")
            return self

        def read_reg(self, addr, timeout=None):
            return 0

        def flash_id(self, cache=True):
            return 0x1640EF  # a 4 MB Winbond part

        def run_spiflash_command(self, *args, **kwargs):
            return 0

        def flash_set_parameters(self, size):
            pass

        def flash_defl_begin(self, size, compsize, offset, **kwargs):
            self.calls.append(("write", offset, size))
            self._pos = offset
            self._inflate = zlib.decompressobj()
            return 1

        def flash_defl_block(self, data, seq, **kwargs):
            out = bytearray(self._inflate.decompress(data))
            if corrupt_writes and out:
                out[0] ^= 0x01
            self.flash[self._pos:self._pos + len(out)] = out
            self._pos += len(out)

        def flash_defl_finish(self, reboot=False, **kwargs):
            pass

        def flash_md5sum(self, addr, size):
            return hashlib.md5(bytes(self.flash[addr:addr + size])).hexdigest()

        def erase_flash(self):
            self.calls.append("erase")
            self.flash[:] = b"\xff" * len(self.flash)

        def hard_reset(self):
            self.calls.append("reset")

    return FakeLoader()


def micropython_like_image(chip="esp32"):
    """A bootloader-shaped ESP image (DRAM + IRAM segments, checksum and SHA-256) merged with a
    partition table and an application image the way MicroPython's firmware.bin is laid out."""
    from esptool import cmds

    def image(entry, segments):
        built = ESP32FirmwareImage()
        built.ROM_LOADER = CHIP_DEFS[chip]
        built.chip_id = CHIP_DEFS[chip].IMAGE_CHIP_ID
        built.entrypoint = entry
        built.segments = [ELFSection(name, addr, data, 0) for name, addr, data in segments]
        return built

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        parts = []
        for name, entry, segments in (
            ("boot", 0x40080400, [(b".dram0.data", 0x3FFF0000, b"\x11" * 768),
                                  (b".iram_loader.text", 0x40078000, b"\x22" * 2048)]),
            ("app", 0x40081000, [(b".flash.rodata", 0x3F400020, b"MicroPython v1.29 on ESP32".ljust(4096, b"\0")),
                                 (b".iram0.text", 0x40080000, b"\x33" * 8192)]),
        ):
            path = Path(tmp) / (name + ".bin")
            image(entry, segments).save(str(path))
            parts.append(path.read_bytes())
    offset = CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET
    partition_table = b"\xaa\x50" + bytes(30) + b"\xff" * (0xC00 - 32)
    return cmds.merge_bin([(offset, parts[0]), (0x8000, partition_table), (0x10000, parts[1])], chip,
                          target_offset=offset)
