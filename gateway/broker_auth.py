"""Per-device MQTT credentials: a Mosquitto password file and an ACL with `pattern` rules.

The password file uses Mosquitto 2's own format (`user:$7$<iterations>$<salt b64>$<PBKDF2-SHA512 b64>`, as
`mosquitto_passwd` writes it). The ACL lets a node (user name = node id, `%u`) publish only its own uplink
channels and read only its own `cmd` and `ota`; the gateway user reads every topic of the contract and
writes commands.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from gateway.errors import InvalidInput
from gateway.inventory.store import check_name
from protocols import topics

ITERATIONS = 101  # mosquitto_passwd's default
SALT_BYTES = 12
HASH_BYTES = 64
PASSWORD_BYTES = 18  # 144 bits, 24 characters of URL-safe base64


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The `$7$` hash Mosquitto 2 checks a client's password against."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, HASH_BYTES)
    return "$7$%d$%s$%s" % (iterations, base64.b64encode(salt).decode(), base64.b64encode(digest).decode())


def verify_password(password: str, hashed: str) -> bool:
    try:
        _, kind, iterations, salt, digest = hashed.split("$")
        if kind != "7":
            return False
        expected = base64.b64decode(digest)
        computed = hashlib.pbkdf2_hmac(
            "sha512", password.encode("utf-8"), base64.b64decode(salt), int(iterations), len(expected)
        )
    except ValueError:
        return False
    return hmac.compare_digest(computed, expected)


def check_user(name: str) -> str:
    """User names are node ids (or the gateway's name): the contract's id syntax, so `%u` fits a topic."""
    return check_name("user name", name)


def credentials(users: list[str]) -> dict[str, str]:
    """A fresh password for each user (duplicates refused: one identity per device)."""
    seen = set()
    for user in users:
        check_user(user)
        if user in seen:
            raise InvalidInput("user %r listed twice" % user)
        seen.add(user)
    return {user: new_password() for user in users}


def password_file(passwords: dict[str, str]) -> str:
    return "".join(
        "%s:%s\n" % (user, hash_password(password)) for user, password in sorted(passwords.items())
    )


def acl(gateway_users: list[str]) -> str:
    for user in gateway_users:
        check_user(user)
    lines = [
        "# Reverbère broker ACL. A node's MQTT user name is its node id (%u).",
        "# Nodes: publish only their own uplink channels, read only their own cmd and ota.",
    ]
    lines += ["pattern write %s/+/%%u/%s" % (topics.PREFIX, channel) for channel in topics.UPLINK]
    lines += ["pattern read %s/+/%%u/%s" % (topics.PREFIX, channel) for channel in topics.DOWNLINK]
    for user in gateway_users:
        lines += [
            "",
            "# Gateway: reads all traffic, sends commands.",
            "user %s" % user,
            "topic read %s/#" % topics.PREFIX,
            "topic write %s/+/+/cmd" % topics.PREFIX,
        ]
    return "\n".join(lines) + "\n"


def write_private(path: str, text: str) -> None:
    """Write a secrets-bearing file readable by its owner only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
