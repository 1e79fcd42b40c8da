"""Volts from a machine.ADC: calibrated read_uv() where the port has it (ESP32), else a 3.3 V
full-scale read_u16()."""


def reader(adc):
    """-> a function returning the pin voltage in V. Sets the ESP32's 11 dB attenuation (about
    0.15..2.45 V calibrated range) where the port has it: the 0 dB default saturates at ~1 V."""
    if hasattr(adc, "ATTN_11DB"):
        adc.atten(adc.ATTN_11DB)
    if hasattr(adc, "read_uv"):
        return lambda: adc.read_uv() / 1000000
    return lambda: adc.read_u16() * 3.3 / 65535
