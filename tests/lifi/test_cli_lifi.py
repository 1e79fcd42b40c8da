"""`reverbere lifi`: modes, modulate | demodulate round trips (raw float32 and oscilloscope CSV), ber."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gateway.cli.lifi_commands import lifi
from gateway.errors import ProtocolError

REPO = Path(__file__).resolve().parents[2]
EXPECTED_RATES = {
    "ook-11.67k": 11_666.67, "ook-24.44k": 24_444.44, "ook-48.89k": 48_888.89, "ook-73.3k": 73_333.33,
    "ook-100k": 100_000.0, "vppm-35.56k": 35_555.56, "vppm-71.11k": 71_111.11, "vppm-124.4k": 124_444.44,
    "vppm-266.6k": 266_666.67,
}


def run(args, data=b""):
    return CliRunner().invoke(lifi, args, input=data, catch_exceptions=False)


def test_modes_json_lists_every_mode_with_its_rate():
    result = run(["modes", "--json"])
    assert result.exit_code == 0
    modes = json.loads(result.output)
    assert {m["name"]: round(m["data_rate_bps"], 2) for m in modes} == EXPECTED_RATES
    for m in modes:
        assert {"name", "modulation", "rs", "cc", "optical_clock_hz", "data_rate_bps"} <= set(m)
        assert m["optical_clock_hz"] == (200_000 if m["modulation"] == "ook" else 400_000)
    coded = next(m for m in modes if m["name"] == "ook-11.67k")
    assert coded["rs"] == "RS(15,7)" and coded["cc"] == "1/4"


def test_modes_table_names_every_mode():
    output = run(["modes"]).output
    assert all(name in output for name in EXPECTED_RATES)


@pytest.mark.parametrize("mode, dim, sps", [("ook-100k", None, 4), ("ook-24.44k", 0.3, 4),
                                            ("vppm-266.6k", None, 10), ("vppm-71.11k", 0.7, 10)])
def test_modulate_then_demodulate_round_trip(mode, dim, sps):
    payload = "Bonjour de la rue Solférino, lampadaire 42".encode()
    args = ["modulate", "--mode", mode, "--sps", str(sps)] + (["--dim", str(dim)] if dim else [])
    modulated = run(args, payload)
    assert modulated.exit_code == 0
    samples = np.frombuffer(modulated.stdout_bytes, dtype="<f4")
    assert samples.min() == 0.0 and samples.max() == 1.0
    if dim is not None:
        assert samples.mean() == pytest.approx(dim, abs=0.05)
    demodulated = run(["demodulate", "--mode", mode, "--sps", str(sps)], modulated.stdout_bytes)
    assert demodulated.exit_code == 0
    assert demodulated.output.split() == [payload.hex()]


def test_demodulate_json_and_oscilloscope_csv():
    modulated = run(["modulate", "--mode", "ook-73.3k", "--sps", "5", "--hex"], b"c0ffee").stdout_bytes
    samples = np.frombuffer(modulated, dtype="<f4")
    rng = np.random.default_rng(3)
    volts = 0.2 + 1.5 * samples + rng.normal(0, 0.05, len(samples))  # offset, gain and noise of a probe
    step = 1.0 / (200_000 * 5)
    csv = "Model,XYZ scope\nTime (s),Channel 1 (V)\n" + "\n".join(
        "%.9e,%.5f" % (i * step, v) for i, v in enumerate(volts))
    result = run(["demodulate", "--mode", "ook-73.3k", "--csv", "--json"], csv.encode())
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert [f["payload"] for f in report["frames"]] == ["c0ffee"]
    assert report["frames"][0]["mode"] == "ook-73.3k"
    assert report["counts"]["frames_ok"] == 1


def test_saturated_capture_is_an_error_not_garbage():
    flat = np.ones(50_000, dtype="<f4").tobytes()
    result = CliRunner().invoke(lifi, ["demodulate", "--mode", "ook-100k", "--sps", "4"], input=flat)
    # the library error; gateway.cli.main maps it to exit code 5 (protocol error)
    assert isinstance(result.exception, ProtocolError) and result.exception.exit_code == 5
    assert "saturated" in str(result.exception)


def test_nothing_decoded_and_bad_input_exit_codes_through_the_real_command():
    cmd = [sys.executable, "-m", "gateway.cli.main", "lifi", "demodulate", "--mode", "ook-100k", "--sps", "4"]
    noise = np.random.default_rng(1).uniform(0.2, 0.6, 40_000).astype("<f4").tobytes()
    nothing = subprocess.run(cmd, input=noise, capture_output=True, cwd=REPO, timeout=60, check=False)
    assert nothing.returncode == 3 and nothing.stdout == b""
    assert b"no frame decoded" in nothing.stderr
    ragged = subprocess.run(cmd, input=b"\x00" * 7, capture_output=True, cwd=REPO, timeout=60, check=False)
    assert ragged.returncode == 2


def test_pipeline_through_the_reverbere_entry_point():
    modulate = subprocess.run([sys.executable, "-m", "gateway.cli.main", "lifi", "modulate", "--mode",
                               "vppm-124.4k", "--sps", "8"], input=b"lamp 17", capture_output=True,
                              cwd=REPO, timeout=60, check=True)
    demodulate = subprocess.run([sys.executable, "-m", "gateway.cli.main", "lifi", "demodulate", "--mode",
                                 "vppm-124.4k", "--sps", "8", "--json"], input=modulate.stdout,
                                capture_output=True, cwd=REPO, timeout=60, check=True)
    assert json.loads(demodulate.stdout)["frames"][0]["payload"] == b"lamp 17".hex()


def test_ber_command_writes_points_and_plot(tmp_path):
    plot = tmp_path / "ber.png"
    result = run(["ber", "--modulation", "vppm", "--duty", "0.2", "--duty", "0.5", "--from-db", "6",
                  "--to-db", "10", "--step-db", "2", "--max-bits", "20000", "--plot", str(plot), "--json"])
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert len(report["points"]) == 6
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for point in report["points"]:
        assert point["theory"] > 0
        if point["errors"] >= 50:  # enough errors to compare: within a factor of two of theory
            assert 0.5 < point["ber"] / point["theory"] < 2.0
