"""A simulated board's serial console: the REPL that runs on the board (board_repl, MicroPython) and
the pty that carries it to the host's tools (pty_link, CPython)."""
