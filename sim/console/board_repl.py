"""The serial console of a simulated board, run by the MicroPython unix port as the board's top level.

It does what the chip's firmware does around the application: at boot it runs ``boot.py`` then, in the
friendly REPL, ``main.py`` from the flash directory (Ctrl-C interrupts it into the REPL), then serves
the REPL on stdin/stdout, which the simulator connects to a pty. The protocol follows MicroPython's
``shared/runtime/pyexec.c``, which mpremote, esptool-era deploy tools and pytest-embedded speak:

- friendly REPL: ``>>> `` prompt with echo, continuation lines, Ctrl-A raw REPL, Ctrl-B banner,
  Ctrl-C clear, Ctrl-D soft reset, Ctrl-E paste mode;
- raw REPL: ``raw REPL; CTRL-B to exit\\r\\n>``; source up to Ctrl-D, then ``OK``, output, ``\\x04``,
  error output, ``\\x04``, ``>``; Ctrl-D on an empty line soft-resets, Ctrl-B leaves;
- raw-paste: ``\\x05A\\x01`` in the raw REPL, answered ``R\\x01`` + window size (u16 LE) + ``\\x01``;
  the host sends at most a window ahead and the board grants another with ``\\x01`` each time it has
  consumed a window; Ctrl-D ends the source (acknowledged with ``\\x04``).

A soft reset restarts the process (the supervisor sees ``.reset``); whether the REPL was raw survives
it in ``.console``, as pyexec_mode_kind survives a soft reset on the chip. Ctrl-C reaches this process
as SIGINT while it has Ctrl-C armed (the supervisor's pty link turns the byte into it, as the chip's UART
interrupt does), so it arrives here as KeyboardInterrupt: in user code it is the usual traceback, while
waiting for input it is the Ctrl-C character. Disarmed (``micropython.kbd_intr(-1)``: while this console
boots, or while an application reads a binary protocol) it is an ordinary input byte. Common subset of
CPython and MicroPython.
"""

import sys

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

CTRL_A = const(1)
CTRL_B = const(2)
CTRL_C = const(3)
CTRL_D = const(4)
CTRL_E = const(5)
_BACKSPACES = (8, 127)
# MICROPY_REPL_STDIN_BUFFER_MAX: the raw-paste flow-control window is half of it.
STDIN_BUFFER_MAX = const(256)

MAX_REPL_FAILURES = const(3)
MODE_FILE = ".console"
RESET_FILE = ".reset"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"


def _file_exists(path):
    try:
        open(path).close()
        return True
    except OSError:
        return False


def banner():
    version = ".".join(str(part) for part in sys.implementation.version[:3])
    return ("MicroPython v%s on reverbere-sim; simulated ESP32 module with ESP32\r\n"
            "Type \"help()\" for more information.\r\n" % version).encode()


def needs_more(text):
    """Whether the friendly REPL waits for more lines, like mp_repl_continue_with_input(): an open
    bracket or triple quote, a line ending with ':' or '\\', or a compound statement not yet ended by
    an empty line."""
    depth = 0
    quote = None
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if quote is not None:
            if c == "\\":
                i += 1
            elif text.startswith(quote, i):
                i += len(quote) - 1
                quote = None
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith('"""', i) or text.startswith("'''", i):
            quote = text[i:i + 3]
            i += 2
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        i += 1
    if depth > 0 or (quote is not None and len(quote) == 3):
        return True
    last = text.split("\n")[-1]
    if last.rstrip().endswith(":") or last.endswith("\\"):
        return True
    return "\n" in text and last.strip() != ""


def unlock_heap():
    """Undo heap locks left by code a Ctrl-C interrupted (a sampler that locks the heap to prove it does not
    allocate): the REPL needs the heap. Locking once more reads the depth without a heap_locked()."""
    try:
        import micropython
        micropython.heap_lock()
        depth = micropython.heap_unlock()
        while depth > 0:
            depth = micropython.heap_unlock()
    except (ImportError, AttributeError):
        pass


class SoftReset(Exception):
    """The REPL asked for a soft reset (Ctrl-D)."""


class Console:
    def __init__(self, stdin, stdout):
        self._in = stdin
        self._out = stdout
        self.globals = {"__name__": "__main__"}
        self._pending = None   # a Ctrl-C that arrived as KeyboardInterrupt outside a read

    # -- byte I/O ----------------------------------------------------------------------------
    def write(self, data):
        if isinstance(data, str):
            data = data.encode()
        self._out.write(data)
        if hasattr(self._out, "flush"):
            self._out.flush()

    def getc(self):
        """-> the next input byte (an int); -1 at the end of input (the pty was closed for good)."""
        if self._pending is not None:
            c = self._pending
            self._pending = None
            return c
        try:
            data = self._in.read(1)
        except KeyboardInterrupt:
            return CTRL_C
        if not data:
            return -1
        return data[0]

    def interrupted(self):
        self._pending = CTRL_C

    # -- execution ----------------------------------------------------------------------------
    def execute(self, source, mode, framed):
        """Compile and run ``source``; ``framed`` writes the raw REPL's \\x04 after the output and
        after the error output. Raises SoftReset on SystemExit, as pyexec's forced exit."""
        try:
            code = compile(source, "<stdin>", mode)
            exec(code, self.globals)
        except SystemExit:
            if framed:
                self.write(b"\x04\x04")
            raise SoftReset()
        except BaseException as exc:  # the REPL reports every error and keeps serving
            unlock_heap()
            if framed:
                self.write(b"\x04")
            sys.print_exception(exc)
            if framed:
                self.write(b"\x04")
            return
        if framed:
            self.write(b"\x04\x04")

    def run_file(self, path):
        """boot.py / main.py: run if present; errors and Ctrl-C are reported, then the REPL starts."""
        if not _file_exists(path):
            return
        with open(path) as f:
            source = f.read()
        self.execute(source, "exec", False)

    # -- raw REPL ------------------------------------------------------------------------------
    def raw_repl(self):
        """-> "friendly" when left with Ctrl-B; raises SoftReset for Ctrl-D on an empty line."""
        self.write(RAW_BANNER)
        line = bytearray()
        self.write(b">")
        while True:
            c = self.getc()
            if c < 0:
                raise SoftReset()
            if c == CTRL_A:
                if len(line) == 2 and line[0] == CTRL_E:
                    self.raw_paste(line[1])
                else:
                    self.write(RAW_BANNER)
                line = bytearray()
                self.write(b">")
            elif c == CTRL_B:
                return "friendly"
            elif c == CTRL_C:
                line = bytearray()
            elif c == CTRL_D:
                self.write(b"OK")
                if not line:
                    self.write(b"\r\n")
                    raise SoftReset()
                source = bytes(line)
                line = bytearray()
                self.execute(source, "exec", True)
                self.write(b">")
            else:
                line.append(c)

    def raw_paste(self, command):
        if command != ord("A"):
            self.write(b"R\x00")
            return
        self.write(b"R\x01")
        window = STDIN_BUFFER_MAX // 2
        # The window size grants one window; the \x01 right after grants a second.
        self.write(bytes((window & 0xFF, window >> 8, 0x01)))
        remain = window
        source = bytearray()
        while True:
            c = self.getc()
            if c == CTRL_C or c == CTRL_D or c < 0:
                self.write(b"\x04")
                if c == CTRL_C:
                    # pyexec raises KeyboardInterrupt from the reader: the host sees the framed error.
                    self.write(b"\x04Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n\x04")
                    return
                break
            source.append(c)
            remain -= 1
            if remain == 0:
                self.write(b"\x01")
                remain = window
        self.execute(bytes(source), "exec", True)

    # -- friendly REPL --------------------------------------------------------------------------
    def friendly_repl(self):
        """-> "raw" when Ctrl-A is typed on an empty line; raises SoftReset for Ctrl-D."""
        self.write(banner())
        text = ""
        line = bytearray()
        self.write(b">>> ")
        while True:
            c = self.getc()
            if c < 0:
                raise SoftReset()
            if not line and not text and c == CTRL_A:
                self.write(b"\r\n")
                return "raw"
            if not line and not text and c == CTRL_B:
                self.write(b"\r\n")
                self.write(banner())
                self.write(b">>> ")
            elif c == CTRL_C:
                self.write(b"\r\n>>> ")
                text = ""
                line = bytearray()
            elif c == CTRL_D and not line:
                if text:
                    self.write(b"\r\n")
                    self.execute(text, "single", False)
                    text = ""
                    self.write(b">>> ")
                else:
                    self.write(b"\r\n")
                    raise SoftReset()
            elif not line and not text and c == CTRL_E:
                self.paste_mode()
                self.write(b">>> ")
            elif c in _BACKSPACES:
                if line:
                    line = line[:-1]
                    self.write(b"\x08 \x08")
            elif c == 13 or c == 10:
                self.write(b"\r\n")
                entry = line.decode()
                line = bytearray()
                text = entry if not text else text + "\n" + entry
                if not text.strip():
                    text = ""
                    self.write(b">>> ")
                elif needs_more(text):
                    self.write(b"... ")
                else:
                    self.execute(text, "single", False)
                    text = ""
                    self.write(b">>> ")
            elif c >= 32:
                line.append(c)
                self.write(bytes((c,)))

    def paste_mode(self):
        self.write(b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
        source = bytearray()
        while True:
            c = self.getc()
            if c == CTRL_C or c < 0:
                self.write(b"\r\n")
                return
            if c == CTRL_D:
                self.write(b"\r\n")
                self.execute(bytes(source), "exec", False)
                return
            source.append(c)
            if c == 13:
                self.write(b"\r\n=== ")
            else:
                self.write(bytes((c,)))

    # -- the board's life -------------------------------------------------------------------------
    def serve(self, mode):
        """Run the REPL in ``mode`` ("friendly" or "raw") until a soft reset; -> the mode to keep."""
        failures = 0
        while True:
            try:
                mode = self.raw_repl() if mode == "raw" else self.friendly_repl()
            except SoftReset:
                return mode
            except KeyboardInterrupt:
                # Ctrl-C landed between reads: hand it to the REPL as the character it was.
                unlock_heap()
                self.interrupted()
            except Exception as exc:  # the chip's REPL is C and never dies: report and serve on
                unlock_heap()
                sys.print_exception(exc)
                failures += 1
                if failures >= MAX_REPL_FAILURES:
                    # The interpreter itself is unusable (a heap left locked by an interrupted
                    # collection): end the process rather than spin; the board shows as down.
                    raise


def _read_mode():
    try:
        with open(MODE_FILE) as f:
            return f.read().strip() or "friendly"
    except OSError:
        return "friendly"


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _interrupt_char(char):
    try:
        import micropython
        micropython.kbd_intr(char)
    except (ImportError, AttributeError):
        pass


def main():
    # The chip arms Ctrl-C only while Python code runs: a Ctrl-C sent while it boots must not end this
    # process halfway through an import, so here it stays a byte the REPL reads later.
    _interrupt_char(-1)
    try:
        # As the chip's boot code does before any Python runs: take the cause of the last reset.
        import machine  # noqa: F401
    except ImportError:
        pass
    _interrupt_char(3)
    console = Console(sys.stdin.buffer, sys.stdout.buffer)
    mode = _read_mode()
    try:
        console.run_file("boot.py")
        if mode == "friendly":
            console.run_file("main.py")
    except SoftReset:
        pass
    except KeyboardInterrupt:
        unlock_heap()
        console.write(b"\r\n")
    mode = console.serve(mode)
    _write(MODE_FILE, mode)
    # The supervisor restarts a board that leaves a reset cause, keeping its flash directory.
    _write(RESET_FILE, "soft")
    console.write(b"MPY: soft reboot\r\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
