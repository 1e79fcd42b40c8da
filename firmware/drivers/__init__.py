"""Drivers for the parts a Reverbère node carries, one module per part.

Each driver is handed a machine object (I2C, UART, ADC, Pin) obtained through the HAL and never imports
`machine` itself. A failed reading raises `fault.SensorFault` carrying one of the reasons the wire
contract names (absent, nack, crc, range, timeout); roles report it and retry next period.
"""
