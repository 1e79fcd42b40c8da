"""LiFi PHY I benchmark: BER against theory, coding gain, false frame acceptance, dimming, impairments,
CPython receiver speed, MicroPython beacon frame cost. Prints a report (or `--json`: one JSON object of
named figures) and writes a PNG of the BER curves to the path it prints.

    .venv/bin/python tools/bench_lifi.py [--json] [--quick] [--plot PATH] [--only SECTION]

Methods (the figures' meaning):
* SNR gamma = A^2 T / N0 per optical clock period; theory: OOK-Manchester Q(sqrt(gamma)), VPPM
  Q(sqrt(gamma min(d, 1-d))) (sim/lifi/theory.py). A measured point at the theoretical gamma for a target
  BER is turned back into the gamma theory needs for the measured BER; the difference is the gap in dB.
* "receiver" points run the real fast-path front end (DC removal, timing recovery, integrate-and-dump)
  on sampled light; "detector" points draw matched-filter outputs from their law (cheap at 1e-5).
* coded (ook-11.67k, RS(15,7)+CC(1/4), 56-byte PSDU): the all-zero codeword (the chain is linear and the
  channel symmetric) through the batch soft-decision Viterbi decoder (sim/lifi/coded_ber.py; its input is
  the unquantised Manchester pair difference, as in the receiver), then RS: errors-only; one round of
  decoder feedback (the bits of every block errors-only decoding accepted are pinned and the Viterbi
  decoder runs again; the interleaver spreads a Viterbi error burst over several blocks, so the decoded
  ones clean up the others); then GMD on the blocks still refused (erase the 2, 4, 6, 8 least reliable
  symbols, SOVA reliabilities, keep the candidate closest in soft distance). The core's RS decoder runs on
  every refused block, so its miscorrections are counted (and pinned) as a receiver would suffer them.
  The single-pass chain (no feedback: what fec.decode_nibbles does after the Viterbi decoder) is
  measured too and cross-checked against the core. Eb/N0 is AC energy per information bit (code rate
  with the CC tail, Manchester counted), the same axis as uncoded OOK (Eb/N0 = gamma / 2). The gain is
  uncoded theory's 9.59 dB minus the coded Eb/N0 at BER 1e-5, interpolated in log-BER between the two
  measured points that bracket it; each runs to >= 100 failed frames (the independent error events) or
  its bit budget, and the 95 % interval propagates the burst-aware standard error of both points
  (sqrt(sum of squared per-frame errors) / errors).
* false frame acceptance per position = P(sync) x P(PHR accepted) x P(PSDU CRC passes), stages measured on
  random chips/bytes (independent fields); P(sync) at the real threshold from the binomial law, which the
  measured pass rates at relaxed thresholds are compared with.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from protocols.lifi import dimming, fec, frame, header, modes
from sim.lifi import ber, channel, coded_ber, demod, theory, viterbi

NOEL_LIMIT_HZ = 3000.0


def noel_percent(f_hz: np.ndarray) -> np.ndarray:
    """IEEE 1789-2015 no-observable-effect level, modulation % as a function of frequency."""
    return np.where(f_hz < 90.0, 0.01 * f_hz, 0.0333 * f_hz)


# --- BER against theory -------------------------------------------------------------------------------

def uncoded_ook(figures: dict, quick: bool) -> list:
    for target, label in ((1e-3, "1e-3"), (1e-5, "1e-5")):
        gamma_db = theory.db(theory.gamma_manchester(target))
        max_bits = (2 * 10**6 if quick else 4 * 10**7) if target < 1e-4 else 10**6
        point = ber.receiver_ber(gamma_db, max_bits=max_bits, min_errors=100, seed=11)
        figures["ook.receiver.ber_%s.gap_db" % label] = round(ber.gap_db(point), 3)
        figures["ook.receiver.ber_%s.errors" % label] = point.errors
        figures["ook.receiver.ber_%s.bits" % label] = point.bits
        point = ber.detector_ber(gamma_db, max_bits=4 * 10**7, min_errors=200, seed=12)
        figures["ook.detector.ber_%s.gap_db" % label] = round(ber.gap_db(point), 3)
        figures["ook.detector.ber_%s.errors" % label] = point.errors
    return [ber.receiver_ber(g, max_bits=2 * 10**5 if quick else 10**6, min_errors=200, seed=13)
            for g in np.arange(2.0, 12.5, 1.0)]


def vppm_duties(figures: dict, quick: bool) -> dict:
    curves = {}
    worst_3 = worst_5 = 0.0
    for index, duty in enumerate(np.round(np.arange(0.1, 0.91, 0.1), 2)):
        gamma_db = theory.db(theory.gamma_vppm(1e-3, duty))
        point = ber.receiver_ber(gamma_db, modulation="vppm", duty=duty, sps=10, max_bits=10**6, min_errors=100,
                                 seed=210 + index)
        gap3 = ber.gap_db(point, "vppm", duty)
        gamma_db = theory.db(theory.gamma_vppm(1e-5, duty))
        point5 = ber.detector_ber(gamma_db, modulation="vppm", duty=duty, max_bits=4 * 10**7, min_errors=100,
                                  seed=220 + index)
        gap5 = ber.gap_db(point5, "vppm", duty)
        figures["vppm.d%.1f.receiver.ber_1e-3.gap_db" % duty] = round(gap3, 3)
        figures["vppm.d%.1f.detector.ber_1e-5.gap_db" % duty] = round(gap5, 3)
        worst_3 = max(worst_3, abs(gap3))
        worst_5 = max(worst_5, abs(gap5))
        if duty in (0.1, 0.3, 0.5):
            curves[duty] = [ber.receiver_ber(g, modulation="vppm", duty=duty, sps=10,
                                             max_bits=10**5 if quick else 4 * 10**5, min_errors=200, seed=23)
                            for g in np.arange(4.0, 22.5, 2.0)]
    figures["vppm.worst_abs_gap_db.receiver_1e-3"] = round(worst_3, 3)
    figures["vppm.worst_abs_gap_db.detector_1e-5"] = round(worst_5, 3)
    return curves


CODED_GRID_DB = (3.5, 3.75, 4.0, 4.25, 4.5, 4.75, 5.0, 5.25, 5.5, 5.75, 6.0)


def _ebn0_to_gamma_db(ebn0_db: float, link) -> float:
    return theory.db(theory.undb(ebn0_db) * 2.0 * link.code_rate)


def _coded_curve(link, quick: bool, seed: int) -> list:
    """Points up the Eb/N0 grid until one is below 1e-5 (the crossing is bracketed); each point runs
    to 100 bit errors and 100 failed frames (independent error events), or the bit budget."""
    points = []
    for ebn0 in CODED_GRID_DB:
        point = link.point(_ebn0_to_gamma_db(ebn0, link), max_bits=(3 * 10**6 if quick else 12 * 10**7),
                           min_errors=100, min_frame_errors=100, batch=500, seed=seed)
        points.append(point)
        if point.ber < 1e-5:
            break
    return points


def _gain_figures(figures: dict, key: str, link, points: list) -> float:
    """Coding gain at BER 1e-5 over uncoded OOK-Manchester theory, both on Eb/N0 per information bit,
    with the 95 % interval of the crossing (burst-aware error counts, `coded_ber.gamma_for_ber_interval`)."""
    crossing, se_db = coded_ber.gamma_for_ber_interval(points, 1e-5)
    coded_ebn0 = theory.ebn0_db_manchester(theory.undb(crossing), link.code_rate)
    gain = theory.ebn0_db_manchester(theory.gamma_manchester(1e-5)) - coded_ebn0
    bracket = [p for p in points if p.bit_errors][-2:]
    figures.update({
        # at the same chip SNR (same light, same optical clock), what the mode's lower data rate buys
        key + ".link_gain_db_same_chip_snr_at_1e-5": round(
            theory.db(theory.gamma_manchester(1e-5)) - crossing, 3),
        key + ".ebn0_db_at_ber_1e-5": round(coded_ebn0, 3),
        key + ".coding_gain_db_at_1e-5": round(gain, 3),
        key + ".coding_gain_db_at_1e-5.ci95": [round(gain - 1.96 * se_db, 3), round(gain + 1.96 * se_db, 3)],
        key + ".crossing_points_frame_errors": [p.frame_errors for p in bracket],
        key + ".crossing_points_bit_errors": [p.bit_errors for p in bracket],
        key + ".points": [p.as_dict() for p in points],
    })
    return gain


def coding_gain(figures: dict, quick: bool) -> dict:
    """RS(15,7)+CC(1/4) (ook-11.67k): the receiver's chain (soft Viterbi, RS with one round of decoder
    feedback, then GMD), the same without feedback (the core's stream decoder after a soft Viterbi),
    errors-only RS for reference. Returns the curves for the plot."""
    receiver = coded_ber.CodedLink(56, (15, 7), (1, 4), max_erasures=8, feedback=1)
    single = coded_ber.CodedLink(56, (15, 7), (1, 4), max_erasures=8)
    errors_only = coded_ber.CodedLink(56, (15, 7), (1, 4))
    reference = errors_only.point(_ebn0_to_gamma_db(4.25, errors_only), max_bits=(10**6 if quick else 10**7),
                                  min_errors=100, seed=33)
    curves = {"RS(15,7)+CC(1/4), feedback + GMD": _coded_curve(receiver, quick, 31),
              "RS(15,7)+CC(1/4), single pass GMD": _coded_curve(single, quick, 34)}
    _gain_figures(figures, "coded", receiver, curves["RS(15,7)+CC(1/4), feedback + GMD"])
    _gain_figures(figures, "coded.single_pass", single, curves["RS(15,7)+CC(1/4), single pass GMD"])
    disagree, compared = single.check_against_core(_ebn0_to_gamma_db(4.2, single), 300, seed=32)
    figures.update({
        "coded.mode": "ook-11.67k RS(15,7)+CC(1/4), 56-byte PSDU",
        "coded.decoding": "soft-decision Viterbi (unquantised Manchester pair differences); RS errors-only, "
                          "1 round of decoder feedback (bits of the blocks errors-only decoding accepted "
                          "pinned, "
                          "Viterbi again), then GMD with up to 8 erasures from SOVA reliabilities",
        "coded.ebn0_definition": "AC energy per information bit (code rate with tail and Manchester counted)",
        "coded.errors_only_ber_at_4.25db": reference.ber,
        "coded.code_rate_with_tail": round(receiver.code_rate, 5),
        "uncoded.ebn0_db_at_ber_1e-5": round(theory.ebn0_db_manchester(theory.gamma_manchester(1e-5)), 3),
        "coded.rs_rule_vs_core_disagreements": disagree,
        "coded.rs_rule_vs_core_frames": compared,
    })
    for name in ("ook-24.44k", "ook-48.89k"):  # the other CC modes, for the plot: a shorter budget
        mode = modes.mode_by_name(name)
        link = coded_ber.CodedLink(55, mode.rs, mode.cc, max_erasures=15 - mode.rs[1], feedback=1)
        points = []
        budget = 5 * 10**5 if quick else 4 * 10**6
        for ebn0 in np.arange(1.0, 8.01, 0.5):
            gamma_db = _ebn0_to_gamma_db(float(ebn0), link)
            point = link.point(gamma_db, max_bits=budget, min_errors=100, batch=500, seed=35)
            points.append(point)
            if point.ber < 1e-6:  # also when no error was seen: the budget cannot show lower
                break
        curves["%s RS(15,%d)+CC(%d/%d), feedback + GMD" % ((name, mode.rs[1]) + tuple(mode.cc))] = points
    return curves


# --- false frame acceptance ---------------------------------------------------------------------------

def _crc_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.int64)
    for b in range(256):
        r = b << 8
        for _ in range(8):
            r = ((r << 1) ^ 0x1021) if r & 0x8000 else (r << 1)
        table[b] = r & 0xFFFF
    return table


_CRC = _crc_table()


def crc16_rows(rows: np.ndarray) -> np.ndarray:
    """CRC-16/GENIBUS (the core's) of each row of bytes, vectorised over rows."""
    r = np.full(rows.shape[0], 0xFFFF, dtype=np.int64)
    for column in rows.T:
        r = ((r << 8) & 0xFFFF) ^ _CRC[(r >> 8) ^ column]
    return r ^ 0xFFFF


def false_acceptance(figures: dict, quick: bool) -> None:
    rng = np.random.default_rng(41)
    # the vectorised CRC is the core's
    sample = rng.integers(0, 256, (20, 9), dtype=np.int64)
    assert all(int(c) == header.crc16(bytes(row.tolist())) for c, row in zip(crc16_rows(sample), sample))
    # sync: mismatches of random chips against the 60-chip TDP at every position
    n_chips = 2 * 10**6 if quick else 2 * 10**7
    tdp = 2.0 * np.frombuffer(bytes(header.tdp_bits()), np.uint8) - 1.0
    hits = np.zeros(61, dtype=np.int64)
    for _ in range(max(1, n_chips // 2_000_000)):
        chips = 2.0 * rng.integers(0, 2, 2_000_000) - 1.0
        mismatches = np.rint((60 - np.correlate(chips, tdp, mode="valid")) / 2).astype(np.int64)
        hits += np.bincount(mismatches, minlength=61)
    positions = int(hits.sum())
    binomial = np.array([math.comb(60, i) for i in range(61)], dtype=float) / 2.0**60
    cumulative_measured = np.cumsum(hits) / positions
    cumulative_theory = np.cumsum(binomial)
    for t in (14, 16, 18, 20):
        figures["false.sync.measured_rate_le_%d" % t] = float(cumulative_measured[t])
        figures["false.sync.binomial_rate_le_%d" % t] = float(cumulative_theory[t])
    p_sync = float(cumulative_theory[header.MAX_SYNC_ERRORS])
    dimmed_form = sum(math.comb(120, i) for i in range(2 * header.MAX_SYNC_ERRORS + 1)) / 2.0**120
    p_sync += 2 * dimmed_form  # the Manchester TDP of dimmed frames is searched too (two pair alignments)
    figures["false.sync.positions_measured"] = positions
    figures["false.sync.rate_at_threshold"] = p_sync
    # PHR: random chips through the header mode's decoder (batch Viterbi + the core's RS + header check)
    hmode = modes.header_mode(modes.mode_by_name("ook-100k"))
    n_nibbles = fec.coded_nibble_count(header.PHR_BYTES, hmode.rs)
    n_sent = header.field_chips(header.PHR_BYTES, hmode) // 2
    trials = 20_000 if quick else 100_000
    rs_ok = accepted = 0
    for _ in range(trials // 5000):
        soft = (2.0 * rng.integers(0, 2, (5000, n_sent)) - 1.0).astype(np.float32)
        bits = viterbi.decode(soft, hmode.cc, 4 * n_nibbles)
        for row in bits:
            nibbles = (row.reshape(-1, 4) @ np.array([8, 4, 2, 1])).astype(np.uint8)
            try:
                data, _ = fec.decode_nibbles(bytearray(nibbles.tobytes()), hmode.rs, header.PHR_BYTES,
                                             interleaved=True)
            except ValueError:
                continue
            rs_ok += 1
            try:
                header.parse_header(data)
                accepted += 1
            except ValueError:
                pass
    # header check on random 6-byte headers (what a decodable random PHR looks like)
    n_headers = 10**7 if quick else 5 * 10**7
    hcs_pass = 0
    for _ in range(max(1, n_headers // 10**7)):
        rows = rng.integers(0, 256, (10**7, 6), dtype=np.int64)
        hcs_pass += int(np.count_nonzero(crc16_rows(rows[:, :4]) == (rows[:, 4] << 8 | rows[:, 5])))
    p_hcs = hcs_pass / (max(1, n_headers // 10**7) * 10**7)
    # field rules of header.parse_header, for a receiver listening for OOK: burst + channel bits zero (4),
    # reserved bits zero (5), an OOK MCS id (5 of 64), a PSDU length 2..1023 (1022 of 65536)
    p_fields = (1 / 16) * (1 / 32) * (5 / 64) * (1022 / 65536)
    fields_rows = rng.integers(0, 256, (10**6, 4), dtype=np.int64)
    crc = crc16_rows(fields_rows)
    fields_accepted = 0
    for row, c in zip(fields_rows, crc):
        try:
            mode, _, _ = header.parse_header(bytes(row.tolist()) + bytes([int(c) >> 8, int(c) & 0xFF]))
        except ValueError:
            continue
        fields_accepted += mode.modulation == modes.OOK
    p_rs = rs_ok / trials
    p_phr = p_rs * p_hcs * p_fields
    # PSDU CRC on random PSDUs
    n_psdus = 10**7 if quick else 4 * 10**7
    crc_pass = 0
    for _ in range(max(1, n_psdus // 10**7)):
        rows = rng.integers(0, 256, (10**7, 12), dtype=np.int64)
        crc_pass += int(np.count_nonzero(crc16_rows(rows[:, :10]) == (rows[:, 10] << 8 | rows[:, 11])))
    p_crc = crc_pass / (max(1, n_psdus // 10**7) * 10**7)
    # the whole receiver on noise and on random light: nothing may come out
    noise_result = demod.demodulate(rng.normal(0.5, 0.15, 4 * 10**6), "ook-100k", 4)
    random_result = demod.demodulate(np.repeat(rng.integers(0, 2, 10**6), 4).astype(float), "ook-100k", 4)
    figures.update({
        "false.phr.random_trials": trials, "false.phr.rs_decodable_rate": p_rs,
        "false.phr.accepted_in_trials": accepted,
        "false.phr.hcs_pass_rate": p_hcs, "false.phr.fields_valid_rate_rules": p_fields,
        "false.phr.fields_accepted_of_1e6_random_with_valid_hcs": fields_accepted,
        "false.phr.rate": p_phr, "false.psdu.crc_pass_rate": p_crc,
        "false.acceptance_per_position": p_sync * p_phr * p_crc,
        "false.noise_capture.chips": noise_result.chips,
        "false.noise_capture.syncs": noise_result.counts.get("sync", 0),
        "false.noise_capture.frames": len(noise_result.frames),
        "false.random_light.chips": random_result.chips,
        "false.random_light.syncs": random_result.counts.get("sync", 0),
        "false.random_light.frames": len(random_result.frames),
    })


# --- dimming and flicker --------------------------------------------------------------------------------

def _light_stream(mode, dim, sps, frames, payload_len, gap_chips, rng):
    comp = dimming.Compensator(dim) if mode.modulation == modes.OOK else None
    chips = bytearray(dimming.idle_chips(gap_chips, mode, dim, comp))
    for _ in range(frames):
        chips += frame.build_frame(bytes(rng.integers(0, 256, payload_len, dtype=np.uint8)), mode, dim, comp=comp)
        chips += dimming.idle_chips(gap_chips, mode, dim, comp)
    return np.frombuffer(bytes(dimming.light_samples(chips, mode, dim, sps)), np.uint8).astype(np.float64)


def dimming_windows(figures: dict) -> None:
    rng = np.random.default_rng(51)
    worst_abs = worst_rel = 0.0
    for name, sps in (("ook-100k", 1), ("ook-11.67k", 1), ("vppm-266.6k", 20)):
        mode = modes.mode_by_name(name)
        window = round(0.005 * mode.optical_clock_hz * sps)
        for level in np.round(np.arange(0.1, 0.91, 0.1), 2):
            light = _light_stream(mode, float(level), sps, 8, 120, 1500, rng)
            cumulative = np.concatenate(([0.0], np.cumsum(light)))
            starts = np.arange(0, len(light) - window + 1, sps)  # every chip (symbol) boundary
            means = (cumulative[starts + window] - cumulative[starts]) / window
            deviation = float(np.max(np.abs(means - level)))
            figures["dim.%s.level%d.max_abs_dev_pct_points" % (name, int(level * 100))] = round(100 * deviation, 3)
            worst_abs = max(worst_abs, deviation)
            worst_rel = max(worst_rel, deviation / level)
    figures["dim.worst_abs_dev_pct_points"] = round(100 * worst_abs, 3)
    figures["dim.worst_rel_dev_pct_of_level"] = round(100 * worst_rel, 3)


def flicker_spectrum(figures: dict) -> None:
    """One second of a luminaire beaconing 4 times a second (19-byte beacons, idle between), FFT of the
    light; each component below 3 kHz against the IEEE 1789 NOEL."""
    rng = np.random.default_rng(52)
    for name, dim, sps in (("ook-100k", 0.3, 1), ("ook-100k", 0.7, 1), ("vppm-266.6k", 0.3, 10)):
        mode = modes.mode_by_name(name)
        rate = mode.optical_clock_hz * sps
        comp = dimming.Compensator(dim) if mode.modulation == modes.OOK else None
        chips = bytearray()
        while len(chips) < mode.optical_clock_hz:
            chips += frame.build_frame(bytes(rng.integers(0, 256, 19, dtype=np.uint8)), mode, dim, comp=comp)
            chips += dimming.idle_chips(mode.optical_clock_hz // 4 - len(chips) % (mode.optical_clock_hz // 4),
                                        mode, dim, comp)
        light = np.frombuffer(bytes(dimming.light_samples(chips, mode, dim, sps)), np.uint8).astype(np.float64)
        light = light[:int(rate)]
        spectrum = np.abs(np.fft.rfft(light)) * 2.0 / len(light)
        freqs = np.fft.rfftfreq(len(light), 1.0 / rate)
        band = (freqs > 0) & (freqs < NOEL_LIMIT_HZ)
        modulation_pct = 100.0 * spectrum[band] / light.mean()
        ratio = modulation_pct / noel_percent(freqs[band])
        worst = int(np.argmax(ratio))
        key = "flicker.%s.dim%d" % (name, int(dim * 100))
        figures[key + ".worst_ratio_to_noel"] = round(float(ratio[worst]), 4)
        figures[key + ".worst_freq_hz"] = float(freqs[band][worst])
        figures[key + ".worst_mod_pct"] = round(float(modulation_pct[worst]), 5)


# --- impairments, speed ---------------------------------------------------------------------------------

def impairments(figures: dict, quick: bool) -> None:
    gamma_db = theory.db(theory.gamma_manchester(1e-3))
    bits = 3 * 10**5 if quick else 10**6
    base = ber.gap_db(ber.receiver_ber(gamma_db, frame_bits=8000, max_bits=bits, min_errors=10**9, seed=61))
    figures["impair.baseline_gap_db"] = round(base, 3)
    cases = {"clock_plus_200ppm": ber.Impairments(clock_offset_ppm=200.0),
             "clock_minus_200ppm": ber.Impairments(clock_offset_ppm=-200.0),
             "mains_100hz_plus_20db": ber.Impairments(mains_over_signal_db=20.0)}
    for name, imp in cases.items():
        gap = ber.gap_db(ber.receiver_ber(gamma_db, frame_bits=8000, max_bits=bits, min_errors=10**9, seed=61,
                                          impairments=imp))
        figures["impair.%s.penalty_db" % name] = round(gap - base, 3)


def speed(figures: dict) -> None:
    rng = np.random.default_rng(71)
    mode = modes.mode_by_name("ook-100k")
    sps = 4
    payloads = [bytes(rng.integers(0, 256, 1000, dtype=np.uint8)) for _ in range(13)]
    chips = bytearray(dimming.idle_chips(200, mode))
    for payload in payloads:
        chips += frame.build_frame(payload, mode) + dimming.idle_chips(200, mode)
    light = np.frombuffer(bytes(dimming.light_samples(chips, mode, None, sps)), np.uint8).astype(np.float64)
    config = channel.ChannelConfig(geometry=channel.Geometry(horizontal_offset_m=2.0),
                                   receiver=channel.Receiver(transimpedance_ohm=100_000.0, clock_offset_ppm=200.0),
                                   ambient_lux=5.0, extra_noise_a_rms=5e-7)
    capture = channel.propagate(light, mode.optical_clock_hz * sps, config, rng)
    seconds = len(light) / (mode.optical_clock_hz * sps)
    best = math.inf
    for _ in range(7):
        start = time.perf_counter()
        result = demod.demodulate(capture.samples, mode, sps)
        best = min(best, time.perf_counter() - start)
    figures.update({
        "speed.signal_seconds": round(seconds, 3), "speed.samples_per_chip": sps,
        "speed.frames_ok": sum(f.payload == p for f, p in zip(result.frames, payloads)),
        "speed.frames_sent": len(payloads), "speed.demod_seconds_best_of_7": round(best, 4),
        "speed.times_real_time": round(seconds / best, 2),
    })


def micropython(figures: dict) -> None:
    out = subprocess.run([sys.executable, str(REPO / "tools/lifi_mpy_bench.py"), "--json"], capture_output=True,
                         text=True, timeout=600, cwd=REPO, check=False)
    if out.returncode != 0:
        figures["mpy.error"] = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"
    else:
        for key, value in json.loads(out.stdout.strip().splitlines()[-1]).items():
            figures["mpy.beacon_frame." + key] = value
    low = subprocess.run([str(Path(sys.executable).parent / "micropython"), "-X", "heapsize=192K", str(REPO / "tests/lifi/mpy_lowrate_check.py"),
                          str(REPO)], capture_output=True, text=True, timeout=300, cwd=REPO, check=False)
    for line in low.stdout.splitlines():
        if line.startswith("us_per_sample"):
            figures["mpy.lowrate_rx.us_per_sample_unix"] = float(line.split()[1])


# --- plot ---------------------------------------------------------------------------------------------

def plot(path: str, ook_points, vppm_curves, coded_curves: dict) -> str:
    """Left: uncoded line codes against theory on the chip SNR axis. Right: BER against Eb/N0 per
    information bit for uncoded OOK (theory and receiver simulation) and the coded modes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5))
    fine = np.linspace(0, 22, 300)
    left.semilogy(fine, [theory.ber_manchester(theory.undb(g)) for g in fine], "k-", lw=1, label="OOK-Manchester theory")
    shown = [p for p in ook_points if p.errors]
    left.semilogy([p.gamma_db for p in shown], [p.ber for p in shown], "ko", ms=4, label="OOK receiver sim")
    for duty, points in vppm_curves.items():
        line, = left.semilogy(fine, [theory.ber_vppm(theory.undb(g), duty) for g in fine], "-", lw=1,
                              label="VPPM d=%.1f theory" % duty)
        shown = [p for p in points if p.errors]
        left.semilogy([p.gamma_db for p in shown], [p.ber for p in shown], "s", ms=4, color=line.get_color(),
                      label="VPPM d=%.1f receiver sim" % duty)
    left.set(xlabel="SNR per optical clock period A²T/N0 (dB)", ylabel="BER", ylim=(1e-7, 0.5),
             title="Uncoded PHY I line codes")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7, loc="lower left")
    eb = np.linspace(0, 12, 200)
    right.semilogy(eb, [theory.q_function(math.sqrt(2 * theory.undb(x))) for x in eb], "k-", lw=1,
                   label="uncoded OOK-Manchester, theory")
    shown = [p for p in ook_points if p.errors]  # Eb/N0 = gamma / 2 for an uncoded Manchester bit
    right.semilogy([theory.ebn0_db_manchester(theory.undb(p.gamma_db)) for p in shown], [p.ber for p in shown],
                   "ko", ms=4, label="uncoded OOK-Manchester, receiver sim")
    for (label, points), style in zip(coded_curves.items(), ("ro-", "m^--", "bs-", "gd-")):
        shown = [p for p in points if p.bit_errors]
        right.semilogy([p.ebn0_db for p in shown], [p.ber for p in shown], style, ms=4, lw=1, label=label)
    right.axhline(1e-5, color="grey", lw=0.5)
    right.set(xlabel="Eb/N0 per information bit (dB)", ylabel="BER", ylim=(1e-7, 0.5),
              title="Coded OOK modes (soft-decision Viterbi)")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=7, loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object of named figures")
    parser.add_argument("--quick", action="store_true", help="fewer bits: a smoke run, not the targets")
    parser.add_argument("--plot", default=str(REPO / "reports" / "lifi-ber.png"),
                        help="PNG path (default reports/lifi-ber.png; reports/ is git-ignored)")
    parser.add_argument("--only", choices=["coded", "false", "speed", "dimming", "impairments"],
                        help="run one section only (no plot)")
    opts = parser.parse_args()
    if opts.only:
        figures = {"quick": opts.quick}
        {"coded": lambda: coding_gain(figures, opts.quick),
         "false": lambda: false_acceptance(figures, opts.quick), "speed": lambda: speed(figures),
         "dimming": lambda: (dimming_windows(figures), flicker_spectrum(figures)),
         "impairments": lambda: impairments(figures, opts.quick)}[opts.only]()
        print(json.dumps(figures) if opts.json else "\n".join("%-58s %s" % kv for kv in figures.items()))
        return
    figures: dict = {"quick": opts.quick}
    started = time.perf_counter()
    ook_points = uncoded_ook(figures, opts.quick)
    vppm_curves = vppm_duties(figures, opts.quick)
    coded_curves = coding_gain(figures, opts.quick)
    false_acceptance(figures, opts.quick)
    dimming_windows(figures)
    flicker_spectrum(figures)
    impairments(figures, opts.quick)
    speed(figures)
    micropython(figures)
    figures["plot"] = plot(opts.plot, ook_points, vppm_curves, coded_curves)
    figures["bench_seconds"] = round(time.perf_counter() - started, 1)
    if opts.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        if not key.endswith(".points"):
            print("%-58s %s" % (key, value))
    print("plot written to %s" % figures["plot"])


if __name__ == "__main__":
    main()
