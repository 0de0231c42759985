"""API keys for local systems: random, shown once, stored only as a hash, revocable, expiring.

A key reads ``mpx_<key id>_<secret>``; the id finds the row, the secret is
compared by its SHA-256 in constant time (the secret has 256 bits of entropy, so
a fast hash is enough; no password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_key() -> tuple[str, str, str]:
    """(key id, full key to hand out once, hash to store)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return key_id, f"mpx_{key_id}_{secret}", hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(key: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "mpx" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
