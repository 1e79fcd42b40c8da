"""MQTT topic names of the wire contract: ``rvb/v1/<site>/<node_id>/<channel>``.

Rules (docs/wire-contract.md): ``site`` and ``node_id`` are 1-32 characters of ``[a-z0-9-]`` not starting
with ``-``; ``channel`` is one of UPLINK or DOWNLINK. Written without ``re`` so the chip needs no regex.
"""

PREFIX = "rvb/v1"

UPLINK = ("birth", "death", "data", "status", "evt", "ack")
DOWNLINK = ("cmd", "ota")
CHANNELS = UPLINK + DOWNLINK

MAX_PART = 32
_PART_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"

GATEWAY_FILTER = PREFIX + "/+/+/+"


def check_part(kind, part):
    """Raise ValueError unless ``part`` is a valid site or node id; ``kind`` names it in the message."""
    if not isinstance(part, str):
        raise ValueError("%s must be a string, not %s" % (kind, type(part).__name__))
    if not 1 <= len(part) <= MAX_PART:
        raise ValueError("%s %r must be 1 to %d characters long" % (kind, part, MAX_PART))
    if part[0] == "-":
        raise ValueError("%s %r must not start with '-'" % (kind, part))
    for char in part:
        if char not in _PART_CHARS:
            raise ValueError("%s %r holds %r; allowed: a-z, 0-9 and '-'" % (kind, part, char))


def check_channel(channel):
    if channel not in CHANNELS:
        raise ValueError("unknown channel %r; expected one of %s" % (channel, ", ".join(CHANNELS)))


def build(site, node_id, channel):
    """The topic a message of ``channel`` for ``node_id`` at ``site`` is published on."""
    check_part("site", site)
    check_part("node id", node_id)
    check_channel(channel)
    return "%s/%s/%s/%s" % (PREFIX, site, node_id, channel)


def parse(topic):
    """Split a topic into ``(site, node_id, channel)``; ValueError when it breaks a rule.

    Accepts str or bytes (MQTT clients on the chip hand topics over as bytes).
    """
    if isinstance(topic, (bytes, bytearray)):
        try:
            topic = str(topic, "utf-8")
        except UnicodeError:
            raise ValueError("topic is not valid UTF-8")
    if not isinstance(topic, str):
        raise ValueError("topic must be str or bytes, not %s" % type(topic).__name__)
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] + "/" + parts[1] != PREFIX:
        raise ValueError("topic %r is not of the form %s/<site>/<node_id>/<channel>" % (topic, PREFIX))
    check_part("site", parts[2])
    check_part("node id", parts[3])
    check_channel(parts[4])
    return parts[2], parts[3], parts[4]


def gateway_filter(share_group=None):
    """Subscription filter for a gateway; with ``share_group``, an MQTT 5 shared subscription."""
    if share_group is None:
        return GATEWAY_FILTER
    check_part("share group", share_group)
    return "$share/%s/%s" % (share_group, GATEWAY_FILTER)


def node_filters(site, node_id):
    """The filters a node subscribes to: its own downlink channels, nothing else."""
    return [build(site, node_id, channel) for channel in DOWNLINK]


def is_uplink(channel):
    return channel in UPLINK
