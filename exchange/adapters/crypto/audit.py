"""The evidence chain: an append-only, hash-chained log of what happened to each message.

Entry hash = SHA-256(previous hash || canonical JSON of the entry without its
hash). Changing, removing or reordering any entry breaks every later hash,
which `verify_chain` reports. Entries name message ids, counties and
principals, never personal data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from exchange.adapters.crypto.canonical import canonical

GENESIS = "0" * 64
FIELDS = ("seq", "at", "event", "message_id", "county", "principal", "detail")


def entry_hash(previous: str, entry: dict[str, Any]) -> str:
    body = {name: entry.get(name) for name in FIELDS}
    return hashlib.sha256(previous.encode() + canonical(body)).hexdigest()


def verify_chain(entries: Iterable[dict[str, Any]]) -> int | None:
    """The seq of the first entry that does not chain, or None when the whole chain holds."""
    previous = GENESIS
    expected_seq = None
    for entry in entries:
        if expected_seq is not None and entry["seq"] != expected_seq:
            return entry["seq"]
        if entry["prev_hash"] != previous or entry["hash"] != entry_hash(previous, entry):
            return entry["seq"]
        previous = entry["hash"]
        expected_seq = entry["seq"] + 1
    return None
