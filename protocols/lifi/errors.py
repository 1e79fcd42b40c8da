"""Typed errors of the LiFi modem core; every one is a ValueError so callers may catch broadly."""


class LifiError(ValueError):
    """Base of every modem error."""


class SyncNotFound(LifiError):
    """No synchronisation header (topology-dependent pattern) in the chips."""


class TruncatedFrame(LifiError):
    """The chips end before the frame does."""


class HeaderError(LifiError):
    """The PHY header failed its check sequence or holds impossible fields."""


class PayloadCRCError(LifiError):
    """The PSDU CRC-16 does not match."""


class FECError(LifiError):
    """The error-correcting code could not recover the data."""


class LineCodeError(LifiError):
    """Too few chips for the requested number of code words."""


class DimmingError(LifiError):
    """A dimming level outside the range the modem can hold."""


def count(stats, name, n=1):
    """Add n to stats[name] when the caller keeps a stats dict."""
    if stats is not None:
        stats[name] = stats.get(name, 0) + n
