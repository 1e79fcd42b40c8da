"""What differs between CPython and MicroPython, in one place.

``micropython.native`` compiles a function to machine code on MicroPython (about twice as fast for
the chip loops); the decorator must be spelled ``@micropython.native`` where it is used, so modules do
``from protocols.lifi.compat import micropython``: the real module on MicroPython, a stand-in whose
decorators change nothing on CPython.
"""

try:
    import micropython
except ImportError:
    class micropython:  # noqa: N801 - stands in for the MicroPython module of that name
        @staticmethod
        def native(func):
            return func

        @staticmethod
        def const(value):
            return value
