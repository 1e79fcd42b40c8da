"""IEEE 802.15.7 PHY I software modem core (bits <-> chips <-> frames).

Runs unchanged on CPython and MicroPython (common subset, no numpy); the luminaire builds its frames
with it and the CPython receiver fast path decodes with it.

Chips are ``bytearray`` objects holding one chip per byte, 0 (LED off) or 1 (LED on), at the mode's
optical clock. For VPPM a chip is one VPPM symbol; its pulse width is the dimming duty (see dimming).

Public API, by module:

``modes``
    ``MODES`` (tuple of ``Mode``), ``mode_by_name(name)``, ``mode_by_id(mcs_id)``, ``header_mode(mode)``.
    ``Mode`` attributes: ``name``, ``mcs_id``, ``modulation`` ("ook"/"vppm"), ``rs`` ((n, k) or None),
    ``cc`` ((num, den) or None), ``optical_clock_hz``, ``data_rate_bps`` (float), ``rate_fraction``
    ((num, den) exact b/s), ``as_dict()``.
``linecode``
    ``manchester_encode(bits, out=None, pos=0)``, ``manchester_decode(chips, n_bits, start=0)``,
    ``manchester_soft(chips, n_bits, start=0)``, ``encode_4b6b(nibbles, out=None, pos=0)``,
    ``decode_4b6b(chips, n_nibbles, start=0)``, ``TABLE_4B6B``.
``gf16``
    ``EXP``, ``LOG``, ``mul(a, b)``, ``div(a, b)``, ``power(a, n)``, ``poly_eval(coeffs, x)``.
``rs``
    ``generator(n_parity)``, ``encode_block(data, k)``, ``decode_block(word, k)``,
    ``encode(symbols, k, out=None, n_data=None)``, ``decode(symbols, k, n_data)``,
    ``encoded_length(n_data, k)``, ``RSError``.
``cc``
    ``RATES``, ``encode(bits, rate)``, ``decode(soft, rate, n_bits)``, ``encoded_length(n_bits, rate)``,
    ``TAIL_BITS``. Soft values are 0..255 (0 = sure 0, 255 = sure 1, 128 = nothing known).
``fec``
    ``interleave(symbols)``, ``deinterleave(symbols)``, ``encode_nibbles(data, rs, interleaved)``,
    ``encode_bits(data, rs, cc)``, ``decode_nibbles(nibbles, rs, n_bytes, interleaved)``,
    ``decode_bits(values, rs, cc, n_bytes, soft=False)``, ``coded_nibble_count(n_bytes, rs)``,
    ``coded_bit_count(n_bytes, rs, cc)``.
``header``
    SHR/PHR layout and sizes: ``FLP_CHIPS``, ``TDP_BITS``, ``TOPOLOGY_*``, ``PHR_BYTES``, ``crc16``,
    ``tdp_bits``, ``header_bytes``, ``parse_header``, ``field_chips``, ``frame_chip_count``.
``builder``
    ``FrameBuilder(mode, max_payload=64, dim=None, ...)`` with ``build(payload)`` -> memoryview of chips
    (preallocated buffers: the luminaire path), ``build_frame(...)``.
``frame`` (also re-exports the header and builder names)
    ``build_frame(payload, mode, dim=None, topology=TOPOLOGY_BROADCAST, flp_chips=FLP_CHIPS, comp=None)``,
    ``parse_frame(chips, mode, start=0, stats=None)`` -> ``Frame``, ``parse_chips(chips, mode)`` -> bytes,
    ``find_sync(chips, mode, start=0)``, ``frame_chip_count(payload_len, mode, dim=None)``,
    ``Frame`` (payload, mode, dimmed, start, end, corrected).
``errors``
    ``LifiError`` (a ValueError) > ``SyncNotFound``, ``HeaderError``, ``PayloadCRCError``, ``FECError``,
    ``TruncatedFrame``, ``LineCodeError``, ``DimmingError`` (and ``rs.RSError``).
``dimming``
    ``level_permille(dim)``, ``vppm_duty(dim)``, ``Compensator(dim)`` (OOK compensation, state kept
    across frames and idle), ``compensate(chips, comp)``, ``compensate_into(chips, n, comp, out)``,
    ``count_pairs(n_pairs, comp)``, ``max_pairs(n_pairs, comp)``,
    ``strip_compensation(chips, start, chip, with_positions=True)``, ``kept_pair_origin(...)``,
    ``idle_chips(n_chips, mode, dim=None, comp=None)``, ``light_samples(chips, mode, dim, sps)``.
``tx``
    ``chip_ticks(mode, rmt_clock_hz)``, ``rmt_items(chips, mode, rmt_clock_hz, dim=None)`` ->
    list of (level, ticks), ``rmt_pulses(items)`` -> (durations, start_level), ``ledc_duty(dim, bits)``,
    ``BeaconScheduler(mode, period_ms=250, dim=None, source=None, max_messages=4, max_payload=128)``.
``compat``
    ``micropython`` (the real module, or no-op ``native``/``const`` decorators on CPython).
"""
