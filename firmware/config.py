"""The node's configuration file on flash (JSON), its validation, and its atomic replacement.

The deploy step writes ``config.json`` from ``boards/*.toml`` (sections ``board`` and ``role``) plus the
device identity and network settings. The ``config`` command changes keys by dotted name
(``{"mqtt.keepalive": 60}``); only the keys listed in SETTABLE may change that way.

A replacement is written to a temporary file, flushed, then renamed over the old one: on littlefs and on
POSIX a rename is atomic, so a power cut leaves either the old file or the new one, never half of each.
"""

import hashlib
import json
import os

FILE = "config.json"
HASH_SIZE = 8


class ConfigError(ValueError):
    """The configuration is unreadable, or a key is unknown or holds a bad value."""


class _Check:
    """A value predicate and the text an error message gives for it."""

    def __init__(self, test, text):
        self.test = test
        self.text = text

    def __call__(self, value):
        return self.test(value)


def _number(low, high):
    return _Check(lambda v: type(v) in (int, float) and low <= v <= high,
                  "a number in [%s, %s]" % (low, high))


def _integer(low, high):
    return _Check(lambda v: type(v) is int and low <= v <= high, "an int in [%d, %d]" % (low, high))


def _text(max_len):
    return _Check(lambda v: type(v) is str and len(v) <= max_len,
                  "a string of at most %d characters" % max_len)


def _optional(inner):
    return _Check(lambda v: v is None or inner(v), "null or " + inner.text)


def _is_name(v):
    if type(v) is not str or not 1 <= len(v) <= 32 or v[0] == "-":
        return False
    for c in v:
        if c not in "abcdefghijklmnopqrstuvwxyz0123456789-":
            return False
    return True


_flag = _Check(lambda v: type(v) is bool, "true or false")
_name = _Check(_is_name, "1-32 characters of [a-z0-9-], not starting with '-'")

# dotted key -> (check, default). Defaults are for a node in the field; tests shorten the periods.
SCHEMA = {
    "node.site": (_name, None),
    "node.id": (_optional(_name), None),
    "wifi.ssid": (_optional(_text(32)), None),
    "wifi.password": (_optional(_text(64)), None),
    "mqtt.host": (_text(253), None),
    "mqtt.port": (_integer(1, 65535), 1883),
    "mqtt.user": (_optional(_text(128)), None),
    "mqtt.password": (_optional(_text(128)), None),
    "mqtt.tls": (_flag, False),
    "mqtt.ca": (_optional(_text(64)), None),     # path on flash of the CA certificate, DER
    "mqtt.keepalive": (_integer(5, 3600), 60),
    "ntp.host": (_optional(_text(253)), "pool.ntp.org"),
    "ntp.port": (_integer(1, 65535), 123),
    "ntp.every_s": (_number(1, 604800), 3600),
    "period": (_number(0.05, 86400), 60),
    "status_period": (_number(0.1, 86400), 300),
    "startup_delay_ms": (_integer(0, 600000), 5000),
    "backoff.base_ms": (_integer(1, 600000), 500),
    "backoff.cap_ms": (_integer(1, 3600000), 60000),
    "replay_per_s": (_number(0.1, 1000), 20),
    "watchdog_ms": (_integer(0, 600000), 30000),
    "safe_after": (_integer(1, 100), 3),
    "stable_after_s": (_number(0.1, 3600), 30),
    "ring.segments": (_integer(3, 64), 8),
    "ring.segment_bytes": (_integer(1024, 1048576), 32768),
    "status_led": (_optional(_integer(0, 48)), None),
}

# Keys the config command may change (identity and buffer geometry change only with a redeploy).
SETTABLE = (
    "wifi.ssid", "wifi.password", "mqtt.host", "mqtt.port", "mqtt.user", "mqtt.password", "mqtt.tls",
    "mqtt.ca", "mqtt.keepalive", "ntp.host", "ntp.port", "ntp.every_s", "period", "status_period",
    "startup_delay_ms", "backoff.base_ms", "backoff.cap_ms", "replay_per_s", "watchdog_ms",
    "safe_after", "status_led",
)
# Settable keys the runtime applies at once; the others take effect at the next boot.
LIVE = ("period", "status_period", "replay_per_s")


def get(cfg, key):
    """Value of a dotted key, or its default."""
    section, _, name = key.rpartition(".")
    holder = cfg.get(section) if section else cfg
    if isinstance(holder, dict) and name in holder:
        return holder[name]
    return SCHEMA[key][1]


def _put(cfg, key, value):
    section, _, name = key.rpartition(".")
    if section:
        holder = cfg.get(section)
        if not isinstance(holder, dict):
            holder = cfg[section] = {}
        holder[name] = value
    else:
        cfg[key] = value


def validate(cfg):
    """Raise ConfigError naming the first bad key; return cfg."""
    if not isinstance(cfg, dict):
        raise ConfigError("config must be a JSON object")
    for key in SCHEMA:
        check, default = SCHEMA[key]
        value = get(cfg, key)
        if value is None and default is None and key in ("node.site", "mqtt.host"):
            raise ConfigError("config: %s is required" % key)
        if value is not None or default is not None:
            if not check(value):
                raise ConfigError("config: %s must be %s, got %r" % (key, check.text, value))
    if get(cfg, "backoff.cap_ms") < get(cfg, "backoff.base_ms"):
        raise ConfigError("config: backoff.cap_ms must not be below backoff.base_ms")
    for section in ("board", "role"):
        if not isinstance(cfg.get(section), dict):
            raise ConfigError("config: section %r is required (written at deploy from boards/*.toml)"
                              % section)
    return cfg


def load(path=FILE):
    try:
        with open(path) as f:
            cfg = json.load(f)
    except OSError as exc:
        raise ConfigError("config: cannot read %s: %s" % (path, exc))
    except ValueError as exc:
        raise ConfigError("config: %s is not valid JSON: %s" % (path, exc))
    return validate(cfg)


def save(cfg, path=FILE):
    """Validate, then replace the file atomically."""
    validate(cfg)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cfg, f)
        f.flush()
    os.rename(tmp, path)


def changed(cfg, changes):
    """A copy of cfg with the dotted keys of ``changes`` set; ConfigError for an unknown, unsettable or
    bad key (nothing is changed then). Only the sections touched are copied: the heap is small."""
    new = dict(cfg)
    copied = []
    for key in changes:
        if key not in SETTABLE:
            raise ConfigError("config: %r cannot be set by command" % (key,))
        check = SCHEMA[key][0]
        value = changes[key]
        if not check(value):
            raise ConfigError("config: %s must be %s, got %r" % (key, check.text, value))
        section = key.rpartition(".")[0]
        if section and section not in copied:
            new[section] = dict(cfg.get(section) or {})
            copied.append(section)
        _put(new, key, value)
    return validate(new)


def digest(path=FILE):
    """First HASH_SIZE bytes of the SHA-256 of the config file (birth key 15)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(256)
            if not chunk:
                break
            h.update(chunk)
    return h.digest()[:HASH_SIZE]
