"""Public keys and revocations as they travel on the keys topic, and which of them a node believes.

A key record is a public key (county, key id, raw Ed25519 key, validity, ``use``) and an **endorsement**: an
Ed25519 signature over the key by a signing key of the same county. A county's first key endorses itself (trust
on first use); every later key, and every later record of a known key, is endorsed by a key the county already
has. A revocation withdraws a key at once and for good. `EndorsementRules` holds the rules (for every key
``use``: a county's encryption keys are endorsed the same way), judged at the time the broker appended the record
(`at`), which its sender cannot choose:

* the endorser is a signing key of the county, valid at `at` (within the skew) and not revoked;
* a new key of a known county is endorsed by another of its keys, and starts no earlier than `at` minus the skew
  (no key minted back-dated);
* a known key's record may change only its ``not_after``, only to shorten it, and only when endorsed by the key
  itself or a newer key of the county (a stolen old key cannot cut its successor short);
* a revocation is signed by the key itself (a thief revoking a stolen key does no harm) or a newer signing key
  of the county valid at `at`.

`KeyDirectory` applies them to records in any order (a compacted topic may hand a rotated-to key over before the
key that endorsed it): a record whose endorser is not known yet waits, and is judged as soon as it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from pydantic import ValidationError

from contracts.control import KeyRecordBody, KeyRevocationBody
from exchange.adapters.crypto.canonical import canonical
from exchange.adapters.crypto.signing import KeyRing, PublicKey, SignatureError, SigningKey

log = logging.getLogger(__name__)

#: Kafka headers of a signed record (outside the CloudEvents attributes).
KEY_ID_HEADER = "mpx-key-id"
SIGNATURE_HEADER = "mpx-signature"
#: Clocks disagree a little, and a node publishes a rotated key up to 30 s after making it.
DEFAULT_SKEW = timedelta(minutes=5)


class KeyRefused(ValueError):
    """A key record or revocation that breaks the rules: set aside with `code`, never believed."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code


def _endorsed_bytes(key: PublicKey) -> bytes:
    return canonical({"purpose": "mpx-public-key", "key": key.to_dict()})


def _revocation_bytes(county: str, key_id: str, use: str, revoked_at: datetime) -> bytes:
    return canonical({"purpose": "mpx-key-revocation", "county": county, "key_id": key_id, "use": use,
                      "revoked_at": revoked_at.isoformat()})


@dataclass(frozen=True)
class KeyRecord:
    key: PublicKey
    endorsed_by: str
    endorsement: str

    @property
    def ident(self) -> tuple[str, str, str]:
        return self.key.use, self.key.county, self.key.key_id

    @property
    def kafka_key(self) -> str:
        prefix = "" if self.key.use == "signing" else f"{self.key.use}:"
        return f"{prefix}{self.key.county}:{self.key.key_id}"

    def to_bytes(self) -> bytes:
        return orjson.dumps({"kind": "key", "key": self.key.to_dict(), "endorsed_by": self.endorsed_by,
                             "endorsement": self.endorsement}, option=orjson.OPT_SORT_KEYS)

    @classmethod
    def endorse(cls, key: PublicKey, endorser: SigningKey) -> KeyRecord:
        if endorser.county != key.county:
            raise ValueError("a key is endorsed by a key of its own county")
        return cls(key, endorser.key_id, endorser.sign(_endorsed_bytes(key)))


@dataclass(frozen=True)
class KeyRevocation:
    county: str
    key_id: str
    revoked_at: datetime
    endorsed_by: str
    endorsement: str
    use: str = "signing"

    @property
    def ident(self) -> tuple[str, str, str]:
        return self.use, self.county, self.key_id

    @property
    def kafka_key(self) -> str:  # its own compaction key: a later record of the key never hides it
        return f"revoked:{self.use}:{self.county}:{self.key_id}"

    def to_bytes(self) -> bytes:
        return orjson.dumps({"kind": "revocation", "county": self.county, "key_id": self.key_id, "use": self.use,
                             "revoked_at": self.revoked_at.isoformat(), "endorsed_by": self.endorsed_by,
                             "endorsement": self.endorsement}, option=orjson.OPT_SORT_KEYS)

    @classmethod
    def sign(cls, county: str, key_id: str, revoked_at: datetime, signer: SigningKey,
             use: str = "signing") -> KeyRevocation:
        if signer.county != county:
            raise ValueError("a key is revoked by a key of its own county")
        return cls(county, key_id, revoked_at, signer.key_id,
                   signer.sign(_revocation_bytes(county, key_id, use, revoked_at)), use)


def parse(raw: bytes) -> KeyRecord | KeyRevocation:
    """A record of the keys topic, checked against its contract; KeyRefused(malformed) for anything else (a
    timestamp without time zone included)."""
    try:
        body = orjson.loads(raw)
        if isinstance(body, dict) and body.get("kind") == "revocation":
            r = KeyRevocationBody.model_validate(body)
            return KeyRevocation(r.county, r.key_id, r.revoked_at, r.endorsed_by, r.endorsement, r.use.value)
        k = KeyRecordBody.model_validate(body)
    except (ValueError, ValidationError) as exc:
        raise KeyRefused("malformed", f"not a key record ({type(exc).__name__})") from None
    key = PublicKey(k.key.county, k.key.key_id, k.key.public, k.key.not_before, k.key.not_after, k.key.use.value)
    return KeyRecord(key, k.endorsed_by, k.endorsement)


def endorser_for(key: SigningKey, county_keys: list[SigningKey]) -> SigningKey:
    """Who endorses `key`: the newest older key of the county valid when `key` starts; else `key` itself."""
    older = [k for k in county_keys if k.key_id != key.key_id and k.not_before < key.not_before
             and k.public_key().valid_at(key.not_before)]
    return max(older, key=lambda k: k.not_before) if older else key


class EndorsementRules:
    """Whether a key record or a revocation may be believed at `at` (the broker's append time), given what the
    ring already believes. Raises KeyRefused; returns None when the endorser is not known yet (wait)."""

    def __init__(self, ring: KeyRing, skew: timedelta = DEFAULT_SKEW):
        self.ring = ring
        self.skew = skew

    def endorser(self, county: str, key_id: str, at: datetime) -> PublicKey | None:
        """The county's signing key `key_id`, if it may endorse at `at`; None if it is not known yet."""
        endorser = self.ring.public.get((county, key_id))
        if endorser is None:
            return None
        if (county, key_id) in self.ring.revoked:
            raise KeyRefused("endorser_revoked", f"endorser {key_id} is revoked")
        if not endorser.valid_near(at, self.skew):
            raise KeyRefused("endorser_not_valid", f"endorser {key_id} is not valid now")
        return endorser

    def key(self, record: KeyRecord, known: PublicKey | None, at: datetime) -> bool:
        """True: believe it; False: wait for its endorser. `known`: the key as believed so far, if it is."""
        key = record.key
        if key.not_after is not None and key.not_after < key.not_before:
            raise KeyRefused("malformed", "key ends before it starts")
        if key.use != "signing" and record.endorsed_by == key.key_id:
            raise KeyRefused("not_endorsed", f"a {key.use} key is endorsed by a signing key of its county")
        county_known = any(c == key.county for c, _ in self.ring.public)
        if known is None and not county_known:
            if record.endorsed_by != key.key_id:
                return False  # its endorser, the county's first key, comes later
            self._check(key, record.endorsement, _endorsed_bytes(key))  # first key: trust on first use
            return True
        if known is None and record.endorsed_by == key.key_id:
            raise KeyRefused("not_endorsed", "a new key of a known county must be endorsed by one of its keys")
        if known is None and key.not_before < at - self.skew:
            raise KeyRefused("key_backdated", "a new key may not start before it is published")
        if known is not None:
            if (known.public, known.not_before, known.use) != (key.public, key.not_before, key.use):
                raise KeyRefused("key_changed", "a known key id names another key or start")
            if known.not_after is not None and (key.not_after is None or key.not_after > known.not_after):
                raise KeyRefused("key_extended", "a key's validity may only be shortened")
        endorser = self.endorser(key.county, record.endorsed_by, at)
        if endorser is None:
            return False
        if known is not None and endorser.key_id != key.key_id and endorser.not_before < known.not_before:
            raise KeyRefused("older_endorser", "only the key itself or a newer key may shorten it")
        self._check(endorser, record.endorsement, _endorsed_bytes(key))
        return True

    def revocation(self, revocation: KeyRevocation, at: datetime) -> bool:
        """True if the revocation holds; False to wait for its key or endorser."""
        subject = self.ring.public.get((revocation.county, revocation.key_id))
        if subject is None:
            return False
        message = _revocation_bytes(revocation.county, revocation.key_id, revocation.use, revocation.revoked_at)
        if revocation.endorsed_by == revocation.key_id:
            self._check(subject, revocation.endorsement, message)
            return True
        endorser = self.endorser(revocation.county, revocation.endorsed_by, at)
        if endorser is None:
            return False
        if endorser.not_before < subject.not_before:
            raise KeyRefused("older_endorser", "only the key itself or a newer key may revoke it")
        self._check(endorser, revocation.endorsement, message)
        return True

    @staticmethod
    def _check(key: PublicKey, signature: str, message: bytes) -> None:
        try:
            key.check(signature, message)
        except SignatureError:
            raise KeyRefused("bad_endorsement", "endorsement does not verify") from None


@dataclass
class Learned:
    """What one record of the keys topic changed: keys believed or updated, keys revoked."""

    keys: list[PublicKey]
    revoked: list[tuple[str, str]]


class KeyDirectory:
    """Public keys this node believes (signing keys in `ring`, others in `other`), and records waiting for their
    endorser."""

    def __init__(self, ring: KeyRing, skew: timedelta = DEFAULT_SKEW):
        self.ring = ring
        self.rules = EndorsementRules(ring, skew)
        self.other: dict[tuple[str, str, str], PublicKey] = {}  # keys of another use (encryption), by ident
        self.pending: dict[tuple[str, str, str, str], tuple[KeyRecord | KeyRevocation, datetime]] = {}

    def known(self, ident: tuple[str, str, str]) -> PublicKey | None:
        use, county, key_id = ident
        return self.ring.public.get((county, key_id)) if use == "signing" else self.other.get(ident)

    def offer(self, record: KeyRecord | KeyRevocation, at: datetime) -> Learned:
        """Consider a record appended at `at`; returns what it (and any record that waited for it) changed.
        Raises KeyRefused if this record breaks the rules (records that waited and now fail are dropped)."""
        learned = Learned([], [])
        if isinstance(record, KeyRecord) and self.known(record.ident) == record.key:
            return learned  # published again unchanged
        if isinstance(record, KeyRevocation) and record.use == "signing" and \
                (record.county, record.key_id) in self.ring.revoked:
            return learned
        self._judge(record, at, learned)
        progress = True
        while progress:
            progress = False
            for slot, (waiting, when) in list(self.pending.items()):
                del self.pending[slot]
                try:
                    if self._judge(waiting, when, learned):
                        progress = True
                except KeyRefused as refused:
                    log.warning("key record %s refused: %s", waiting.ident, refused.code)
        return learned

    def _judge(self, record: KeyRecord | KeyRevocation, at: datetime, learned: Learned) -> bool:
        kind = "revocation" if isinstance(record, KeyRevocation) else "key"
        if isinstance(record, KeyRevocation):
            if record.use != "signing":
                raise KeyRefused("malformed", f"no revocation of {record.use} keys here")
            if not self.rules.revocation(record, at):
                self.pending[(kind, *record.ident)] = (record, at)
                return False
            self.ring.revoked.setdefault((record.county, record.key_id), at)
            learned.revoked.append((record.county, record.key_id))
            return True
        if not self.rules.key(record, self.known(record.ident), at):
            self.pending[(kind, *record.ident)] = (record, at)
            return False
        if record.key.use == "signing":
            self.ring.add_public(record.key)
        else:
            self.other[record.ident] = record.key
        learned.keys.append(record.key)
        return True
