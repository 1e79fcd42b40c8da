"""What each supported chip allows, from Espressif's datasheets: GPIO numbers, pins taken by the SPI
flash, input-only pins, ADC1 pins (ADC2 cannot be read while Wi-Fi runs), peripheral channel counts and
the offset the MicroPython image is flashed at."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Chip:
    name: str
    gpios: range
    flash_pins: frozenset[int]
    input_only: frozenset[int]
    adc1_pins: frozenset[int]
    ledc_channels: int
    rmt_tx_channels: int
    uarts: int
    i2c_buses: int
    flash_offset: int


CHIPS = {
    "esp32": Chip("esp32", range(40), frozenset(range(6, 12)), frozenset(range(34, 40)),
                  frozenset(range(32, 40)), ledc_channels=8, rmt_tx_channels=8, uarts=3, i2c_buses=2,
                  flash_offset=0x1000),
    "esp32c3": Chip("esp32c3", range(22), frozenset(range(12, 18)), frozenset(),
                    frozenset(range(5)), ledc_channels=6, rmt_tx_channels=2, uarts=2, i2c_buses=1,
                    flash_offset=0x0),
    "esp32s3": Chip("esp32s3", range(49), frozenset(range(26, 33)), frozenset(),
                    frozenset(range(1, 11)), ledc_channels=8, rmt_tx_channels=4, uarts=3, i2c_buses=2,
                    flash_offset=0x0),
}
