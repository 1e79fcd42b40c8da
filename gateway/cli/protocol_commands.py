"""`reverbere decode`: show what a captured payload says, for a technician or a script.

The payload is decoded with the contract's own codec (protocols.cbor, with its limits); with --topic
the topic is checked, the message validated against the contract, and a data pack resolved.
"""

import binascii
import json
import math

import click

from gateway.errors import InvalidInput, ProtocolError
from protocols import cbor, senml, topics

try:
    from protocols import messages
except ImportError:  # the message catalogue is optional for plain CBOR decoding
    messages = None

_DATA_PACK_KEY = 4
_TIME_KEY = 3


def read_payload(payload, stdin):
    """Bytes of the payload: ``payload`` as hex, or raw bytes from ``stdin`` when it is ``-``."""
    if payload == "-":
        return stdin.read()
    text = "".join(payload.split())
    try:
        return binascii.unhexlify(text)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("payload is not hexadecimal: %s" % exc) from exc


def decode_payload(data, topic=None):
    """Decode ``data`` (and check it against ``topic`` if given) into a report dict.

    Raises ProtocolError when the bytes are not CBOR or break the contract, InvalidInput on a bad topic.
    """
    try:
        value = cbor.loads(data)
    except cbor.CBORDecodeError as exc:
        raise ProtocolError("undecodable payload: %s" % exc) from exc
    report = {"size": len(data), "value": value}
    if topic is None:
        return report
    try:
        site, node_id, channel = topics.parse(topic)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    report["topic"] = {"site": site, "node_id": node_id, "channel": channel}
    if messages is not None and hasattr(messages, "validate"):
        try:
            messages.validate(channel, value)
        except ValueError as exc:
            raise ProtocolError("%s message breaks the contract: %s" % (channel, exc)) from exc
    if channel == "data" and isinstance(value, dict) and _DATA_PACK_KEY in value:
        envelope_time = value.get(_TIME_KEY)
        base_time = envelope_time if isinstance(envelope_time, (int, float)) else None
        try:
            report["records"] = senml.resolve(value[_DATA_PACK_KEY], base_time)
        except ValueError as exc:
            raise ProtocolError("data pack: %s" % exc) from exc
    return report


def to_json(value):
    """A JSON-able form: bytes as hex, tags and special values as {"$...": ...} objects."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key if isinstance(key, str) else json.dumps(to_json(key)): to_json(item)
                for key, item in value.items()}
    if isinstance(value, cbor.Tag):
        return {"$tag": value.tag, "value": to_json(value.value)}
    if isinstance(value, cbor.Simple):
        return {"$simple": value.value}
    if value is cbor.UNDEFINED:
        return {"$undefined": True}
    return value


def diagnostic(value, indent=0):
    """RFC 8949 §8 diagnostic notation, one map entry or array element per line when nested."""
    pad = "  " * (indent + 1)
    if isinstance(value, bytes):
        return "h'%s'" % value.hex()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    if value is cbor.UNDEFINED:
        return "undefined"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, cbor.Tag):
        return "%d(%s)" % (value.tag, diagnostic(value.value, indent))
    if isinstance(value, cbor.Simple):
        return "simple(%d)" % value.value
    if isinstance(value, list):
        if not any(isinstance(item, (list, dict)) for item in value):
            return "[%s]" % ", ".join(diagnostic(item, indent) for item in value)
        lines = [pad + diagnostic(item, indent + 1) for item in value]
        return "[\n%s\n%s]" % (",\n".join(lines), "  " * indent)
    if isinstance(value, dict):
        if not value:
            return "{}"
        lines = [pad + "%s: %s" % (diagnostic(key, indent + 1), diagnostic(item, indent + 1))
                 for key, item in value.items()]
        return "{\n%s\n%s}" % (",\n".join(lines), "  " * indent)
    return repr(value)


def render_human(report):
    lines = []
    if "topic" in report:
        topic = report["topic"]
        lines.append("site %s  node %s  channel %s" % (topic["site"], topic["node_id"], topic["channel"]))
    lines.append("%d bytes" % report["size"])
    lines.append(diagnostic(report["value"]))
    for record in report.get("records", ()):
        value = next(record[key] for key in ("v", "vs", "vb", "vd", "s") if key in record)
        # A node leaves out units the registry fixes for its quantities.
        unit = record.get("u") or senml.REGISTRY.get(record["n"], ("",))[0]
        lines.append("  %-12s %s %s  t=%s" % (record["n"], diagnostic(value), unit, record["t"]))
    return "\n".join(lines)


@click.command()
@click.option("--topic", help="Topic the payload was published on: checks it and the message contract.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (bytes as hex) instead of text.")
@click.argument("payload", required=False, default="-")
def decode(topic, as_json, payload):
    """Decode a CBOR payload given as HEX, or as raw bytes on stdin (PAYLOAD '-' or absent).

    Exits 5 when the payload is not CBOR or breaks the message contract.
    """
    data = read_payload(payload, click.get_binary_stream("stdin"))
    report = decode_payload(data, topic)
    if as_json:
        click.echo(json.dumps(to_json(report), ensure_ascii=False))
    else:
        click.echo(render_human(report))


commands = [decode]
