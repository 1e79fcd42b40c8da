"""`reverbere check <device>`: what the gateway knows of a node, then a live round trip through the
gateway API's command endpoint (identify, then status), so a technician on the ladder sees at once
whether the node is registered, online, and answering."""

from __future__ import annotations

import time

from gateway.errors import NotFound, ReverbereError, Unavailable

IDENTIFY_S = 5


def check(api, node_id: str, timeout_s: float = 10.0) -> dict:
    """-> {"device": the inventory record, "identify": ack, "status": ack, "round_trip_s": …, "ok": …}.

    NotFound when the gateway does not know the node; Unavailable when the API cannot be reached (the
    client raises it). A node that does not answer is reported (``ok`` false, the error kept), not raised:
    the inventory part of the answer is still what the technician needs."""
    try:
        api.health()
    except Unavailable as exc:
        raise Unavailable("%s — is the gateway API running? (--gateway-api / REVERBERE_API)" % exc) from exc
    try:
        device = api.device(node_id)
    except NotFound as exc:
        raise NotFound("the gateway does not know %s: deploy and provision it first" % node_id) from exc
    result: dict = {"device": device, "ok": True}
    for op, args in (("identify", {"s": IDENTIFY_S}), ("status", None)):
        started = time.monotonic()
        try:
            result[op] = api.command(node_id, op, args, timeout_s=timeout_s)
        except ReverbereError as exc:
            result[op] = {"error": str(exc), "kind": type(exc).__name__}
            result["ok"] = False
            continue
        result[op + "_round_trip_s"] = round(time.monotonic() - started, 3)
    return result
