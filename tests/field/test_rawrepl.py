"""The raw REPL client: the raw-paste flow-control codec on its own, then exec, error capture, the plain
raw REPL fallback and soft reset against a simulated board's pty (the real MicroPython console)."""

import pytest

from gateway.errors import ProtocolError, Timeout
from gateway.field.rawrepl import ExecError, RawPasteWindow, RawRepl, parse_window_reply
from sim.serial_board import SerialBoard, prepare_blank


def test_window_reply_gives_the_size_or_none_when_declined():
    assert parse_window_reply(b"R\x01\x80\x00") == 128
    assert parse_window_reply(b"R\x01\x00\x01") == 256
    assert parse_window_reply(b"R\x00") is None
    with pytest.raises(ProtocolError):
        parse_window_reply(b"ra")


def test_window_grants_and_stop_request():
    window = RawPasteWindow(128)
    assert window.take(300) == 128
    assert window.take(5) == 0
    assert window.on_board_byte(0x01) is False
    assert window.take(300) == 128
    assert window.on_board_byte(0x04) is True
    with pytest.raises(ProtocolError):
        window.on_board_byte(0x41)
    with pytest.raises(ProtocolError):
        RawPasteWindow(0)


def test_no_board_answering_is_a_timeout():
    # loop:// echoes what is written: bytes come back, never the raw REPL banner.
    with RawRepl.open("loop://", timeout=0.2) as repl, pytest.raises(Timeout):
        repl.enter(attempts=2)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    board = SerialBoard(prepare_blank(tmp_path_factory.mktemp("rawrepl") / "flash")).start()
    yield board
    board.close()


@pytest.fixture
def repl(board):
    with RawRepl.open(board.port, timeout=10) as repl:
        repl.enter()
        yield repl


def test_exec_returns_output_through_raw_paste(repl):
    assert repl.exec("print(6 * 7)") == b"42\n"
    assert repl.raw_paste is True
    # Far more than the board's window: the flow control must carry it whole.
    big = "x = %r\nprint(len(x))\n" % ("street-light " * 150)
    assert repl.exec(big) == b"1950\n"


def test_board_error_is_captured(repl):
    out, err = repl.exec_capture("print('before')\n1/0")
    assert out == b"before\n"
    assert b"ZeroDivisionError" in err
    with pytest.raises(ExecError) as caught:
        repl.exec("import no_such_module")
    assert "ImportError" in caught.value.traceback
    assert repl.exec("print('still serving')") == b"still serving\n"


def test_plain_raw_repl_when_raw_paste_is_off(repl):
    repl.raw_paste = False
    source = "y = %r\nprint(len(y))\n" % ("b" * 700)
    assert repl.exec(source) == b"700\n"


def test_globals_survive_between_execs_and_soft_reset_clears_them(repl):
    repl.exec("kept = 'lamp'")
    assert repl.exec("print(kept)") == b"lamp\n"
    repl.soft_reset()
    repl.enter()
    _, err = repl.exec_capture("print(kept)")
    assert b"NameError" in err


def test_enter_with_soft_reset_gives_a_fresh_interpreter(board):
    with RawRepl.open(board.port) as repl:
        repl.enter()
        repl.exec("left_over = 1")
        repl.enter(soft_reset=True)
        _, err = repl.exec_capture("print(left_over)")
        assert b"NameError" in err
        assert repl.exec("print('fresh')") == b"fresh\n"
