"""LiFi simulation and CPython receiver fast path (numpy): optical channel, demodulator, BER curves."""
