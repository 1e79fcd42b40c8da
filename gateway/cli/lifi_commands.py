"""`reverbere lifi …`: the IEEE 802.15.7 PHY I modem from the command line.

Sample format on stdin/stdout: raw little-endian float32 light intensity, 0 (dark) .. 1 (full scale),
at S samples per chip of the mode's optical clock. `demodulate --csv` also reads an oscilloscope export
(lines "time,value"; other lines are skipped; S comes from the time step unless --sps is given).

numpy and the simulator are imported inside the commands so that other commands start fast.
"""

from __future__ import annotations

import json
import sys

import click

from gateway.errors import InvalidInput, NotFound, ProtocolError
from protocols.lifi.errors import LifiError
from protocols.lifi.modes import MODES, mode_by_name

_MODE_NAMES = [m.name for m in MODES]


@click.group()
def lifi():
    """LiFi (IEEE 802.15.7 PHY I): modes, modulate, demodulate, BER curves."""


@lifi.command("modes")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects instead of a table.")
def modes_command(as_json):
    """List the PHY I operating modes and their data rates."""
    rows = [m.as_dict() for m in MODES]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo("%-12s %-5s %-10s %-9s %-5s %10s %12s" % ("name", "mcs", "modulation", "rs", "cc",
                                                        "clock_hz", "rate_bps"))
    for row in rows:
        click.echo("%-12s %-5d %-10s %-9s %-5s %10d %12.2f" % (
            row["name"], row["mcs_id"], row["modulation"], row["rs"] or "-", row["cc"] or "-",
            row["optical_clock_hz"], row["data_rate_bps"]))


def _read_stdin_bytes() -> bytes:
    return sys.stdin.buffer.read()


@lifi.command("modulate")
@click.option("--mode", "mode_name", required=True, type=click.Choice(_MODE_NAMES), help="PHY I mode.")
@click.option("--dim", type=float, default=None, help="Dimming level 0.05..0.95 (default: not dimmed).")
@click.option("--sps", type=click.IntRange(min=1), required=True, help="Samples per chip.")
@click.option("--idle-chips", type=click.IntRange(min=0), default=128, show_default=True,
              help="Idle light before and after the frame (lets a receiver lock and settle).")
@click.option("--hex", "payload_hex", is_flag=True, help="stdin holds the payload as hex text.")
def modulate_command(mode_name, dim, sps, idle_chips, payload_hex):
    """Payload on stdin -> one frame's light samples (float32 LE) on stdout."""
    import numpy as np

    from protocols.lifi import dimming, frame

    payload = _read_stdin_bytes()
    if payload_hex:
        try:
            payload = bytes.fromhex(payload.decode("ascii"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput("payload is not hexadecimal: %s" % exc) from exc
    mode = mode_by_name(mode_name)
    try:
        comp = dimming.Compensator(dim) if dim is not None and mode.modulation == "ook" else None
        chips = (dimming.idle_chips(idle_chips, mode, dim, comp)
                 + frame.build_frame(payload, mode, dim, comp=comp)
                 + dimming.idle_chips(idle_chips, mode, dim, comp))
        light = dimming.light_samples(chips, mode, dim, sps)
    except LifiError as exc:
        raise InvalidInput(str(exc)) from exc
    samples = np.frombuffer(bytes(light), dtype=np.uint8).astype("<f4")
    sys.stdout.buffer.write(samples.tobytes())
    sys.stdout.buffer.flush()


def parse_csv_capture(text: str):
    """(times, values) from an oscilloscope CSV: the first two numeric fields of each line."""
    import numpy as np

    times, values = [], []
    for line in text.splitlines():
        fields = line.replace(";", ",").replace("\t", ",").split(",")
        if len(fields) < 2:
            continue
        try:
            t, v = float(fields[0]), float(fields[1])
        except ValueError:
            continue  # header or metadata line
        times.append(t)
        values.append(v)
    if len(values) < 2:
        raise InvalidInput("the CSV holds fewer than two (time, value) lines")
    return np.array(times), np.array(values)


@lifi.command("demodulate")
@click.option("--mode", "mode_name", required=True, type=click.Choice(_MODE_NAMES),
              help="Mode the receiver listens for (sets OOK or VPPM; the PHR names the frame's own MCS).")
@click.option("--sps", type=float, default=None, help="Samples per chip (required for raw float32 input).")
@click.option("--csv", "csv_input", is_flag=True, help="stdin is a (time, value) CSV capture.")
@click.option("--duty", type=float, default=None, help="VPPM pulse width (default: estimated).")
@click.option("--full-scale", type=float, default=None,
              help="Input value of the ADC's full scale (default 1.0 for raw input; none for CSV).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object with frames and receiver counts.")
def demodulate_command(mode_name, sps, csv_input, duty, full_scale, as_json):
    """Light samples on stdin -> decoded frames: one hex payload per line."""
    import numpy as np

    from sim.lifi import demod

    mode = mode_by_name(mode_name)
    data = _read_stdin_bytes()
    if csv_input:
        times, samples = parse_csv_capture(data.decode("utf-8", errors="replace"))
        if sps is None:
            step = float(np.median(np.diff(times)))
            if step <= 0:
                raise InvalidInput("the CSV time column does not increase")
            sps = 1.0 / (step * mode.optical_clock_hz)
        if full_scale is None:
            full_scale = float("inf")
    else:
        if sps is None:
            raise InvalidInput("--sps is required for raw float32 samples")
        if len(data) % 4:
            raise InvalidInput("raw input is %d bytes, not a whole number of float32 samples" % len(data))
        samples = np.frombuffer(data, dtype="<f4")
    try:
        result = demod.demodulate(samples, mode, sps, duty=duty,
                                  full_scale=1.0 if full_scale is None else full_scale)
    except demod.DemodError as exc:
        raise InvalidInput(str(exc)) from exc
    if result.saturated and not result.frames:
        raise ProtocolError("capture saturated: %.1f%% of samples at full scale, nothing decodable"
                            % (100.0 * result.clipped_fraction))
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    else:
        for decoded in result.frames:
            click.echo(decoded.payload.hex())
    if not result.frames:
        raise NotFound("no frame decoded (receiver counts: %s)" % (
            ", ".join("%s=%d" % kv for kv in sorted(result.counts.items())) or "no signal"))


@lifi.command("ber")
@click.option("--modulation", type=click.Choice(["ook", "vppm"]), default="ook", show_default=True)
@click.option("--duty", "duties", type=float, multiple=True, help="VPPM duty; repeat for several curves.")
@click.option("--from-db", type=float, default=4.0, show_default=True, help="First SNR A²T/N0 (dB).")
@click.option("--to-db", type=float, default=12.0, show_default=True, help="Last SNR (dB).")
@click.option("--step-db", type=float, default=1.0, show_default=True)
@click.option("--sps", type=click.IntRange(min=2), default=None, help="Samples per chip (4 OOK, 10 VPPM).")
@click.option("--max-bits", type=click.IntRange(min=1000), default=200_000, show_default=True)
@click.option("--min-errors", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--level", type=click.Choice(["receiver", "detector"]), default="receiver", show_default=True,
              help="Through the real receiver front end, or matched-filter outputs drawn directly.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, writable=True), default="lifi-ber.png",
              show_default=True, help="Where to write the PNG plot.")
@click.option("--json", "as_json", is_flag=True)
def ber_command(modulation, duties, from_db, to_db, step_db, sps, max_bits, min_errors, level, seed,
                plot_path, as_json):
    """Simulated BER against theory over an SNR range, with a PNG plot."""
    import numpy as np

    from sim.lifi import ber, theory

    if step_db <= 0 or to_db < from_db:
        raise InvalidInput("need --step-db > 0 and --to-db >= --from-db")
    duties = duties or (0.5,)
    if any(not 0.05 <= d <= 0.95 for d in duties):
        raise InvalidInput("VPPM duty must be within 0.05..0.95")
    if modulation == "ook":
        duties = (0.5,)
    sps = sps or (4 if modulation == "ook" else 10)
    grid = np.arange(from_db, to_db + step_db / 2, step_db)
    curves, theory_curves, rows = {}, {}, []
    for duty in duties:
        label = "OOK-Manchester" if modulation == "ook" else "VPPM d=%.2f" % duty
        points = []
        for gamma_db in grid:
            if level == "receiver":
                point = ber.receiver_ber(float(gamma_db), modulation=modulation, duty=duty, sps=sps,
                                         max_bits=max_bits, min_errors=min_errors, seed=seed)
            else:
                point = ber.detector_ber(float(gamma_db), modulation=modulation, duty=duty,
                                         max_bits=max_bits, min_errors=min_errors, seed=seed)
            points.append(point)
            rows.append(dict(point.as_dict(), curve=label, duty=duty))
        curves[label + " (simulated)"] = points
        fine = np.linspace(from_db, to_db, 200)
        formula = (theory.ber_manchester if modulation == "ook" else (lambda g, d=duty: theory.ber_vppm(g, d)))
        theory_curves[label + " (theory)"] = (fine, np.array([formula(theory.undb(x)) for x in fine]))
    ber.plot_curves(curves, plot_path, "LiFi PHY I BER, %s level" % level, theory_curves)
    if as_json:
        click.echo(json.dumps({"points": rows, "plot": plot_path}))
        return
    click.echo("%-16s %8s %12s %12s %8s %10s" % ("curve", "snr_db", "ber", "theory", "errors", "bits"))
    for row in rows:
        click.echo("%-16s %8.2f %12.3e %12.3e %8d %10d" % (row["curve"], row["gamma_db"], row["ber"],
                                                            row["theory"], row["errors"], row["bits"]))
    click.echo("plot: %s" % plot_path)


commands = [lifi]
