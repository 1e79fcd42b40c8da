"""The README's main job: `reverbere demo` on embedded defaults, end to end, with exact books."""

import json
import subprocess
import sys


def test_demo_street_reconciles_exactly():
    run = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "demo", "--duration", "10", "--period", "1", "--json"],
        capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    books = json.loads(run.stdout)
    assert books["produced"] > 0
    assert books["received"] == books["forwarded"] == books["produced"]
    assert books["lost"] == 0 and books["duplicates"] == 0
    assert books["devices"] == {"active": 6}
    assert {board["role"] for board in books["boards"]} == {"sensor", "luminaire", "lifi-rx"}
    assert books["first_data_s"] is not None
