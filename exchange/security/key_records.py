"""Public keys as they travel on the keys topic, and which of them a node believes.

A key record is the public key (county, key id, raw Ed25519 key, validity) and an
**endorsement**: an Ed25519 signature over the key by a key of the same county.
A county's first key endorses itself (proof of possession); every later key is
endorsed by the key that was current when it was made (rotation), so a node that
already knows a county's keys accepts a new one only from the holder of an old
one. Whoever can write to the keys topic can therefore not slip in a key of
their own for a county the federation already knows (trust on first use; a
county's very first key is believed as it comes).

`KeyDirectory` applies that rule to records in any order (a compacted topic may
hand a rotated-to key over before the updated record of the key that endorsed
it): a record whose endorser is not known yet waits, and is accepted as soon as
the endorser is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson

from exchange.security.canonical import canonical
from exchange.security.signing import KeyRing, PublicKey, SignatureError, SigningKey

log = logging.getLogger(__name__)

#: Kafka headers of a signed record (outside the CloudEvents attributes).
KEY_ID_HEADER = "mpx-key-id"
SIGNATURE_HEADER = "mpx-signature"


def _endorsed_bytes(key: PublicKey) -> bytes:
    return canonical({"purpose": "mpx-public-key", "key": key.to_dict()})


@dataclass(frozen=True)
class KeyRecord:
    key: PublicKey
    endorsed_by: str
    endorsement: str

    @property
    def ident(self) -> tuple[str, str]:
        return self.key.county, self.key.key_id

    @property
    def kafka_key(self) -> str:
        return f"{self.key.county}:{self.key.key_id}"

    def to_bytes(self) -> bytes:
        return orjson.dumps({"key": self.key.to_dict(), "endorsed_by": self.endorsed_by,
                             "endorsement": self.endorsement}, option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_bytes(cls, raw: bytes) -> KeyRecord:
        """ValueError/KeyError/TypeError for anything that is not a key record."""
        body: dict[str, Any] = orjson.loads(raw)
        return cls(PublicKey.from_dict(body["key"]), str(body["endorsed_by"]), str(body["endorsement"]))

    @classmethod
    def endorse(cls, key: PublicKey, endorser: SigningKey) -> KeyRecord:
        if endorser.county != key.county:
            raise ValueError("a key is endorsed by a key of its own county")
        return cls(key, endorser.key_id, endorser.sign(_endorsed_bytes(key)))


def endorser_for(key: SigningKey, county_keys: list[SigningKey]) -> SigningKey:
    """Who endorses `key`: the newest older key of the county valid when `key` starts; else `key` itself."""
    older = [k for k in county_keys if k.key_id != key.key_id and k.not_before < key.not_before
             and k.public_key().valid_at(key.not_before)]
    return max(older, key=lambda k: k.not_before) if older else key


class KeyDirectory:
    """Public keys this node believes (in `ring`), and records waiting for their endorser."""

    def __init__(self, ring: KeyRing):
        self.ring = ring
        self.pending: dict[tuple[str, str], KeyRecord] = {}

    def offer(self, record: KeyRecord) -> list[PublicKey]:
        """Consider a record; returns the keys accepted or updated now (it, and any that waited for it)."""
        self.pending[record.ident] = record
        accepted: list[PublicKey] = []
        progress = True
        while progress:
            progress = False
            for ident, waiting in list(self.pending.items()):
                verdict = self._check(waiting)
                if verdict is None:
                    continue
                del self.pending[ident]
                if verdict:
                    self.ring.add_public(waiting.key)
                    accepted.append(waiting.key)
                    progress = True
        return accepted

    def _check(self, record: KeyRecord) -> bool | None:
        """True: believe it; False: refuse it; None: its endorser is not known yet."""
        key = record.key
        county_keys = [k for (county, _), k in self.ring.public.items() if county == key.county]
        known = self.ring.public.get(record.ident)
        if known is not None and known.public != key.public:
            log.warning("key record %s refused: key id already names another key", record.ident)
            return False
        if record.endorsed_by == key.key_id:
            endorser = key
            if known is None and county_keys:
                log.warning("key record %s refused: a new key of a known county must be endorsed by one of its keys",
                            record.ident)
                return False
        else:
            endorser = self.ring.public.get((key.county, record.endorsed_by))
            if endorser is None:
                return None
            if known is None and not endorser.valid_at(key.not_before):
                log.warning("key record %s refused: endorser %s not valid when the key starts", record.ident,
                            record.endorsed_by)
                return False
        probe = KeyRing()
        probe.add_public(endorser)
        try:
            probe.verify(key.county, endorser.key_id, record.endorsement, _endorsed_bytes(key), endorser.not_before)
        except SignatureError:
            log.warning("key record %s refused: endorsement does not verify", record.ident)
            return False
        return True

