"""Typed errors of the library; only the CLI maps them to exit codes (documented in README)."""


class ReverbereError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code = 1


class InvalidInput(ReverbereError):
    """A file, argument or configuration value is malformed."""

    exit_code = 2


class NotFound(ReverbereError):
    """A device, board, port or file does not exist."""

    exit_code = 3


class Timeout(ReverbereError):
    """A peer did not answer in time."""

    exit_code = 4


class ProtocolError(ReverbereError):
    """A peer answered something the protocol does not allow."""

    exit_code = 5


class VerificationFailed(ReverbereError):
    """Data written could not be verified (checksum, read-back, signature)."""

    exit_code = 6


class Unavailable(ReverbereError):
    """A service (broker, database, gateway API, platform) cannot be reached."""

    exit_code = 7
