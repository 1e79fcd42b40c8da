"""Deploy over the raw REPL against simulated boards on a pty: blank board to a node publishing its
birth, a re-deploy that skips every file, an interrupted deploy recovered on rerun, a corrupted transfer
caught by the SHA-256 check."""

import hashlib
import json

import pytest
from deploykit import BOARD, Births, CorruptingSerial, blank_board, online_plan, unique_site

from boards.loader import load_named
from gateway.errors import InvalidInput, ReverbereError, VerificationFailed
from gateway.field.deploy import deploy, make_plan, source_paths
from gateway.field.rawrepl import RawRepl


def flash_hash(flash, path):
    return hashlib.sha256((flash / path).read_bytes()).hexdigest()


def test_plan_holds_the_role_protocols_config_and_main():
    plan = make_plan(load_named(BOARD), device_id="bench-3", site="lille")
    paths = [f.path for f in plan.files]
    assert "firmware/roles/sensor.py" in paths and "protocols/cbor.py" in paths
    assert "firmware/roles/luminaire.py" not in paths
    assert not any(p.startswith("protocols/lifi/") for p in paths)
    assert paths[-2:] == ["config.json", "main.py"]
    cfg = json.loads(plan.files[-2].data)
    assert cfg["node"] == {"id": "bench-3", "site": "lille"}
    assert cfg["role"]["name"] == "sensor" and cfg["board"]["name"] == BOARD
    assert any(p.name == "luminaire.py" for p in source_paths("luminaire"))


def test_plan_compiled_to_mpy_keeps_packages_as_source():
    plan = make_plan(load_named(BOARD), mpy=True)
    paths = [f.path for f in plan.files]
    assert "firmware/runtime.mpy" in paths and "firmware/__init__.py" in paths
    runtime = next(f for f in plan.files if f.path == "firmware/runtime.mpy")
    assert runtime.data[:1] == b"M"   # the .mpy header
    assert "firmware/runtime.py" in plan.stale


def test_role_not_played_by_the_board_is_refused():
    with pytest.raises(InvalidInput):
        make_plan(load_named(BOARD), role="luminaire")


@pytest.fixture
def board(tmp_path):
    board = blank_board(tmp_path / "flash")
    yield board
    board.close()


def test_blank_board_deployed_then_online_and_redeploy_skips_everything(board):
    site = unique_site()
    plan = online_plan(site, "bench-7", mpy=True)
    births = Births(site)
    events = []
    try:
        with RawRepl.open(board.port) as repl:
            report = deploy(repl, plan, events.append)
        assert len(report["written"]) == len(plan.files) and report["skipped"] == 0
        for item in plan.files:
            assert flash_hash(board.board_dir, item.path) == item.sha256, item.path
        assert not list(board.board_dir.rglob("*.part"))
        assert {"event": "reset"} in events
        assert births.arrived.wait(30), board.console_text()[-2000:]
        assert births.topics[0] == "rvb/v1/%s/bench-7/birth" % site
    finally:
        births.close()
    with RawRepl.open(board.port) as repl:
        again = deploy(repl, plan)
    assert again["written"] == [] and again["skipped"] == len(plan.files)


def test_interrupted_deploy_recovers_on_rerun(board):
    plan = online_plan(unique_site(), "bench-8", mpy=True)
    big = max(plan.files[:-2], key=lambda f: len(f.data))
    cut = {}

    def power_cut_mid_file(event):
        if event["event"] == "write" and event["path"] == big.path and not cut:
            cut["at"] = event["done"]
            board.power_cycle()

    with RawRepl.open(board.port, timeout=3) as repl, pytest.raises(ReverbereError):
        deploy(repl, plan, power_cut_mid_file)
    assert cut["at"] < len(big.data)
    # Nothing half-written under a real name; the application files are not there yet.
    assert not (board.board_dir / big.path).exists()
    assert not (board.board_dir / "main.py").exists()
    for item in plan.files:
        if (board.board_dir / item.path).exists():
            assert flash_hash(board.board_dir, item.path) == item.sha256
    with RawRepl.open(board.port) as repl:
        report = deploy(repl, plan, reset=False)
    assert report["skipped"] > 0 and big.path in report["written"]
    for item in plan.files:
        assert flash_hash(board.board_dir, item.path) == item.sha256, item.path


def test_corrupted_transfer_is_caught_by_the_sha256_check(board):
    plan = make_plan(load_named(BOARD), device_id="bench-9", site="lille")
    victim = next(f for f in plan.files if f.path == "firmware/runtime.py")
    link = CorruptingSerial(board.port, marker=b"_rvb_f.write(b")
    repl = RawRepl(link)
    try:
        with pytest.raises(VerificationFailed) as caught:
            deploy(repl, plan)
    finally:
        repl.close()
    assert link.corrupted == 1
    failed = caught.value.args[0].split(":")[0]
    assert not (board.board_dir / failed).exists()
    assert not (board.board_dir / (failed + ".part")).exists()
    # A clean link then completes the deploy.
    with RawRepl.open(board.port) as repl:
        deploy(repl, plan, reset=False)
    assert flash_hash(board.board_dir, victim.path) == victim.sha256


def test_chunks_go_as_literal_for_text_and_base64_for_binary():
    from gateway.field.deploy import chunk_source

    assert chunk_source(b"import time\n") == "_rvb_f.write(b'import time\\n')"
    binary = bytes(range(256))
    assert chunk_source(binary).startswith("_rvb_f.write(binascii.a2b_base64(")
    import base64
    encoded = chunk_source(binary).split("'")[1]
    assert base64.b64decode(encoded) == binary


def test_switching_to_mpy_removes_the_stale_sources(board):
    board_def = load_named(BOARD)
    with RawRepl.open(board.port) as repl:
        deploy(repl, make_plan(board_def), reset=False)
        assert (board.board_dir / "firmware" / "runtime.py").exists()
        report = deploy(repl, make_plan(board_def, mpy=True), reset=False)
    assert "firmware/runtime.py" in report["removed"]
    assert not (board.board_dir / "firmware" / "runtime.py").exists()
    assert (board.board_dir / "firmware" / "runtime.mpy").exists()
    assert (board.board_dir / "firmware" / "__init__.py").exists()
