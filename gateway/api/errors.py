"""The API's one error of its own (the rest are the library's typed errors)."""

from gateway.errors import ReverbereError


class Unauthorized(ReverbereError):
    """An admin action without the right bearer token (REVERBERE_API_TOKEN)."""

    exit_code = 2
