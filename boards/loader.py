"""Load and validate board definitions (`boards/*.toml`), and derive what other steps need from them:
the on-chip config sections the deploy step writes, and the simulator's wiring (`sim.json`).

Every error names the file and the key: `boards/x.toml: sensor[1].addr: 0x50 is not an address bme280
can take (0x76, 0x77)`.

    python -m boards.loader check [FILE...]     # validate (default: every shipped board)
    python -m boards.loader export NAME|FILE    # print the on-chip config sections as JSON
    python -m boards.loader wiring NAME|FILE    # print the simulator wiring as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jsonschema

from boards.chips import CHIPS
from boards.parts import PARTS
from boards.schema import SCHEMA

BOARDS_DIR = Path(__file__).resolve().parent
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


class BoardError(ValueError):
    """A board file is unreadable or invalid; `problems` lists every (key, message) found."""

    def __init__(self, path: Path | str, problems: list[tuple[str, str]]):
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {key}: {msg}" if key else f"{self.path}: {msg}"
                                   for key, msg in problems))


@dataclass(frozen=True)
class Board:
    name: str
    path: Path
    data: dict

    @property
    def chip(self) -> str:
        return self.data["board"]["chip"]

    @property
    def role(self) -> str:
        return self.data["board"]["role"]

    @property
    def flash_offset(self) -> int:
        return self.data["board"]["flash_offset"]


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_problems(data: dict) -> list[tuple[str, str]]:
    problems = []
    for err in sorted(_VALIDATOR.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        if err.validator in ("if", "allOf"):
            continue  # the specific failure inside is reported on its own
        problems.append((_key(err.absolute_path), err.message))
    return problems


class _Pins:
    """Pins claimed so far, to report a second use naming both keys."""

    def __init__(self, chip, problems):
        self.chip = chip
        self.owner: dict[int, str] = {}
        self.problems = problems

    def claim(self, pin: int, key: str, output=False, adc=False):
        chip = self.chip
        if pin not in chip.gpios:
            self.problems.append((key, f"GPIO{pin} does not exist on {chip.name}"))
            return
        if pin in chip.flash_pins:
            self.problems.append((key, f"GPIO{pin} is wired to the SPI flash on {chip.name}"))
        if output and pin in chip.input_only:
            self.problems.append((key, f"GPIO{pin} is input-only on {chip.name}"))
        if adc and pin not in chip.adc1_pins:
            self.problems.append((key, (f"GPIO{pin} is not an ADC1 pin on {chip.name} "
                                        f"(ADC1: {sorted(chip.adc1_pins)}; ADC2 is unusable with Wi-Fi)")))
        if pin in self.owner:
            self.problems.append((key, f"GPIO{pin} is already used by {self.owner[pin]}"))
        else:
            self.owner[pin] = key


def _semantic_problems(path: Path, data: dict) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    board = data["board"]
    if board["name"] != path.stem:
        problems.append(("board.name", f"{board['name']!r} must match the file name {path.stem!r}"))
    chip = CHIPS[board["chip"]]
    if board["flash_offset"] != chip.flash_offset:
        problems.append(("board.flash_offset", (f"{board['flash_offset']:#x} is wrong for {chip.name}: "
                                                f"MicroPython images start at {chip.flash_offset:#x}")))
    pins = _Pins(chip, problems)
    for bus, spec in data.get("i2c", {}).items():
        if int(bus) >= chip.i2c_buses:
            problems.append((f"i2c.{bus}", f"{chip.name} has {chip.i2c_buses} I2C bus(es)"))
        pins.claim(spec["scl"], f"i2c.{bus}.scl", output=True)
        pins.claim(spec["sda"], f"i2c.{bus}.sda", output=True)
    for uid, spec in data.get("uart", {}).items():
        if int(uid) == 0 or int(uid) >= chip.uarts:
            problems.append((f"uart.{uid}", f"use UART 1..{chip.uarts - 1}: UART0 is the console"))
        pins.claim(spec["tx"], f"uart.{uid}.tx", output=True)
        pins.claim(spec["rx"], f"uart.{uid}.rx")
    addresses: dict[tuple[int, int], str] = {}
    for i, sensor in enumerate(data.get("sensor", [])):
        key = f"sensor[{i}]"
        part = PARTS[sensor["part"]]
        if part.link == "i2c":
            if str(sensor["bus"]) not in data.get("i2c", {}):
                problems.append((f"{key}.bus", f"I2C bus {sensor['bus']} is not defined in [i2c]"))
            if sensor["addr"] not in part.addresses:
                allowed = ", ".join(f"{a:#04x}" for a in sorted(part.addresses))
                problems.append((f"{key}.addr", (f"{sensor['addr']:#04x} is not an address {part.name} "
                                                 f"can take ({allowed})")))
            where = (sensor["bus"], sensor["addr"])
            if where in addresses:
                problems.append((f"{key}.addr", (f"{sensor['addr']:#04x} on bus {sensor['bus']} is already "
                                                 f"used by {addresses[where]}")))
            addresses[where] = key
        elif part.link == "uart":
            if str(sensor["uart"]) not in data.get("uart", {}):
                problems.append((f"{key}.uart", f"UART {sensor['uart']} is not defined in [uart]"))
        elif part.link == "adc":
            pins.claim(sensor["adc"], f"{key}.adc", adc=True)
        else:
            pins.claim(sensor["pin"], f"{key}.pin")
    if "led" in data:
        led = data["led"]
        pins.claim(led["pin"], "led.pin", output=True)
        if led["channel"] >= chip.ledc_channels:
            problems.append(("led.channel", f"{chip.name} has LEDC channels 0..{chip.ledc_channels - 1}"))
    if "lifi_tx" in data:
        tx = data["lifi_tx"]
        pins.claim(tx["pin"], "lifi_tx.pin", output=True)
        if tx["rmt_channel"] >= chip.rmt_tx_channels:
            problems.append(("lifi_tx.rmt_channel",
                             f"{chip.name} has RMT transmit channels 0..{chip.rmt_tx_channels - 1}"))
    if "photodiode" in data:
        pins.claim(data["photodiode"]["adc"], "photodiode.adc", adc=True)
    role = board["role"]
    needs = {"luminaire": ("led", "lighting"), "lifi-rx": ("photodiode",)}.get(role, ())
    for section in needs:
        if section not in data:
            problems.append((section, f"a {role} board needs a [{section}] table"))
    if role == "sensor" and not data.get("sensor"):
        problems.append(("sensor", "a sensor board needs at least one [[sensor]]"))
    lighting = data.get("lighting", {})
    if "dark_lux" in lighting and "day_lux" in lighting and lighting["day_lux"] <= lighting["dark_lux"]:
        problems.append(("lighting.day_lux", "must be above lighting.dark_lux (switching hysteresis)"))
    return problems


def parse(path: Path | str, text: str) -> Board:
    """Validate the TOML `text` of the board file at `path` -> Board, or raise BoardError."""
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(path, [("", f"not valid TOML: {exc}")]) from exc
    problems = _schema_problems(data)
    if not problems:
        problems = _semantic_problems(path, data)
    if problems:
        raise BoardError(path, problems)
    return Board(data["board"]["name"], path, data)


def load(path: Path | str) -> Board:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardError(path, [("", f"cannot read: {exc}")]) from exc
    return parse(path, text)


def load_named(name_or_path: str) -> Board:
    """A shipped board by name (`luminaire-controller`) or a board file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml":
        return load(candidate)
    return load(BOARDS_DIR / f"{name_or_path}.toml")


def load_all(directory: Path | str = BOARDS_DIR) -> dict[str, Board]:
    return {b.name: b for b in (load(p) for p in sorted(Path(directory).glob("*.toml")))}


def firmware_config(board: Board) -> dict:
    """-> the `board` and `role` sections of the on-chip config (JSON-friendly, string bus keys).

    The role section holds everything the role needs to build its drivers: buses, parts with their
    options, and the luminaire / receiver tables."""
    d = board.data
    b = d["board"]
    role = {"name": b["role"], "furniture": b["furniture"], "i2c": d.get("i2c", {}),
            "uart": d.get("uart", {}), "parts": d.get("sensor", [])}
    for section in ("led", "lifi_tx", "photodiode", "lighting"):
        if section in d:
            role[section] = d[section]
    return {"board": {k: b[k] for k in ("name", "chip", "flash_size", "role", "furniture")},
            "role": json.loads(json.dumps(role))}


_ADC_MODELS = {"noise": "microphone", "supply": "battery"}


def sim_wiring(board: Board, seed: int = 1) -> dict:
    """-> the simulator's `sim.json` for this board: which device model sits on which bus or pin."""
    d = board.data
    wiring: dict = {"seed": seed, "i2c": {}, "uart": {}, "adc": {}, "pin": {}, "pwm": {}, "faults": {}}
    for sensor in d.get("sensor", []):
        part = PARTS[sensor["part"]]
        options = {k: v for k, v in sensor.items() if k in part.options}
        if part.link == "i2c":
            wiring["i2c"].setdefault(str(sensor["bus"]), []).append(
                {"part": part.name, "addr": sensor["addr"], **options})
        elif part.link == "uart":
            wiring["uart"][str(sensor["uart"])] = {"part": part.name, **options}
        elif part.link == "adc":
            wiring["adc"][str(sensor["adc"])] = {"part": _ADC_MODELS[part.name], **options}
        else:
            wiring["pin"][str(sensor["pin"])] = {"part": part.name, **options}
    if "led" in d:
        wiring["pwm"][str(d["led"]["pin"])] = {"part": "led"}
    if "photodiode" in d:
        wiring["adc"][str(d["photodiode"]["adc"])] = {"part": "photodiode"}
    return wiring


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m boards.loader", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate board files")
    check.add_argument("files", nargs="*")
    for name in ("export", "wiring"):
        sub.add_parser(name).add_argument("board")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            boards = [load(f) for f in args.files] if args.files else list(load_all().values())
            for b in boards:
                print(f"{b.path}: ok ({b.chip}, {b.role})")
        elif args.command == "export":
            print(json.dumps(firmware_config(load_named(args.board)), indent=2))
        else:
            print(json.dumps(sim_wiring(load_named(args.board)), indent=2))
    except BoardError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
