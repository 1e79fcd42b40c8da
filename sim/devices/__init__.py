"""Register-level models of the parts a simulated board carries (MicroPython code).

The machine shim asks, per bus, which parts sit where; wiring comes from `<board_dir>/sim.json`
(see wiring.py), measured values from environment.current() (the world-model seam; `seed` and
`world_time` in sim.json pin its randomness and its time of day).

- attach(bus_id, board_dir) -> {addr: model}; model.writeto(data), model.readfrom(n) -> bytes,
  both raising OSError(ENODEV) when the part is absent and OSError(EIO) on NACK.
- attach_uart(uart_id, board_dir) -> model with write(data), read(n) -> bytes | None, any(), or None.
- attach_adc(pin, board_dir) -> callable returning the pin voltage in V, or None.
- attach_pin(pin, board_dir) -> callable returning the input level 0/1, or None.
- note_pwm(pin, duty_u16, board_dir): the PWM shim reports an output duty (drives the lamp load).
- optical_tx(board_dir) -> optical.OpticalTx for the RMT shim when sim.json wires the board to the
  optical medium ("optical": {"medium": [host, port], "id": ...}), else None; a wired photodiode then
  reads the medium's light (optical.OpticalRx).
"""

from sim.devices import environment
from sim.devices.wiring import for_board


def _env(wiring):
    return environment.current(wiring.data.get("seed"), wiring.data.get("world_time"), wiring.data.get("site"))


def _i2c_model(part):
    if part == "bme280":
        from sim.devices.bme280 import BME280 as model
    elif part == "sht3x":
        from sim.devices.sht3x import SHT3x as model
    elif part == "bh1750":
        from sim.devices.bh1750 import BH1750 as model
    elif part == "ina219":
        from sim.devices.ina219 import INA219 as model
    else:
        raise ValueError(f"sim.json: unknown I2C part {part!r}")
    return model


def attach(bus_id, board_dir):
    wiring = for_board(board_dir)
    env = _env(wiring)
    models = {}
    for spec in wiring.section("i2c").get(str(bus_id), ()):
        addr = spec["addr"]
        models[addr] = _i2c_model(spec["part"])(wiring, env, addr, spec)
    return models


def attach_uart(uart_id, board_dir):
    wiring = for_board(board_dir)
    spec = wiring.section("uart").get(str(uart_id))
    if spec is None:
        return None
    if spec["part"] != "pms5003":
        raise ValueError("sim.json: unknown UART part {!r}".format(spec["part"]))
    from sim.devices.pms5003 import PMS5003
    return PMS5003(wiring, _env(wiring), spec)


def attach_adc(pin, board_dir):
    from sim.devices import analog
    wiring = for_board(board_dir)
    spec = wiring.section("adc").get(str(pin))
    if spec is None:
        return None
    make = analog.KINDS.get(spec["part"])
    if make is None:
        raise ValueError("sim.json: unknown ADC part {!r}".format(spec["part"]))
    env = _env(wiring)
    volts = make(env, spec)
    if spec["part"] == "photodiode" and wiring.section("optical"):
        from sim.devices.optical import OpticalRx
        volts = OpticalRx(wiring.section("optical"), volts, lambda: env.lux(env.now())).volts
    return analog.with_faults(wiring, spec["part"], volts)


def attach_pin(pin, board_dir):
    wiring = for_board(board_dir)
    spec = wiring.section("pin").get(str(pin))
    if spec is None:
        return None
    if spec["part"] != "pir":
        raise ValueError("sim.json: unknown input part {!r}".format(spec["part"]))
    env = _env(wiring)

    def level():
        if wiring.fault("pir") == "absent":
            return 0
        return 1 if env.presence(env.now()) else 0
    return level


def note_pwm(pin, duty_u16, board_dir):
    wiring = for_board(board_dir)
    pwm = wiring.section("pwm")
    if pwm and pwm.get(str(pin), {}).get("part") != "led":
        return
    _env(wiring).led_level = duty_u16 / 65535
    tx = _optical_txs.get(board_dir)  # made by the RMT's first write: a lamp without LiFi sends nothing
    if tx is not None:
        tx.level()


_optical_txs = {}


def optical_tx(board_dir):
    """The board's transmitter into the optical medium (one per board), or None when not wired."""
    if board_dir in _optical_txs:
        return _optical_txs[board_dir]
    wiring = for_board(board_dir)
    tx = None
    if wiring.section("optical"):
        from sim.devices.optical import OpticalTx
        env = _env(wiring)
        tx = OpticalTx(wiring.section("optical"),
                       lambda: None if env.led_level is None else int(env.led_level * 65535))
    _optical_txs[board_dir] = tx
    return tx
