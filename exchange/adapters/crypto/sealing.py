"""Payloads sealed end to end to the receiving county (HPKE, RFC 9180), so a record on Kafka is ciphertext.

Every county has X25519 **sealing key pairs** beside its Ed25519 signing keys. The
public half travels on the keys topic as a `SealingKeyRecord`, signed by a signing
key of the same county that the node already believes; the private half stays on
the county's node (table ``sealing_keys``, sealed at rest with the payload key).

The sending node's relay seals each record's data, just before publishing it, to
the receiving county's newest sealing key, with HPKE in base mode
(DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305) from `cryptography`;
no primitive is composed here. The HPKE ``info`` binds the ciphertext to the
record: the canonical JSON of its CloudEvents attributes (id, sender, receiver,
type, time, …) and the key id, so a ciphertext moved onto another record, or
relabelled, does not open. The record value becomes the JSON object `SealedData`
(``{"mpx_sealed": 1, "alg": …, "kid": …, "ct": …}``), which the county then signs
like any record value: what is signed is what travels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from exchange.adapters.crypto.canonical import canonical
from exchange.adapters.crypto.signing import KeyRing, PublicKey, SignatureError, SigningKey, _b64, _unb64

ALGORITHM = "HPKE-Base-X25519-SHA256-ChaCha20Poly1305"
_SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)
#: Marks a record value as sealed (and its format version).
MARKER = "mpx_sealed"


class SealError(ValueError):
    """A record that cannot be opened here: quarantined with `code` (never stored)."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code


def record_info(attributes: dict[str, Any], kid: str) -> bytes:
    """HPKE info: the record's CloudEvents attributes (as its headers carry them) and the key id."""
    return canonical({"purpose": "mpx-sealed-record/1", "attributes": attributes, "kid": kid})


def is_sealed(data: dict[str, Any]) -> bool:
    return MARKER in data


@dataclass(frozen=True)
class SealingPublicKey:
    """A county's public sealing key, as every node learns it."""

    county: str
    key_id: str
    public: str  # raw X25519 public key, base64url
    not_before: datetime

    @cached_property
    def _key(self) -> X25519PublicKey:
        return X25519PublicKey.from_public_bytes(_unb64(self.public))

    def seal(self, plaintext: bytes, attributes: dict[str, Any]) -> dict[str, Any]:
        """The sealed record value (JSON object) for `plaintext`, bound to the record's attributes."""
        ct = _SUITE.encrypt(plaintext, self._key, info=record_info(attributes, self.key_id))
        return {MARKER: 1, "alg": ALGORITHM, "kid": self.key_id, "ct": _b64(ct)}

    def to_dict(self) -> dict[str, Any]:
        return {"county": self.county, "key_id": self.key_id, "public": self.public,
                "not_before": self.not_before.isoformat()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SealingPublicKey:
        not_before = datetime.fromisoformat(d["not_before"])
        if not_before.tzinfo is None:
            raise ValueError("not_before has no time zone")
        return cls(str(d["county"]), str(d["key_id"]), str(d["public"]), not_before)


@dataclass(frozen=True)
class SealingKey:
    """A county's private sealing key (stays on its node)."""

    county: str
    key_id: str
    private: str  # raw X25519 private key, base64url
    not_before: datetime

    @classmethod
    def generate(cls, county: str, key_id: str, not_before: datetime) -> SealingKey:
        raw = X25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return cls(county, key_id, _b64(raw), not_before)

    @cached_property
    def _key(self) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(_unb64(self.private))

    def public_key(self) -> SealingPublicKey:
        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return SealingPublicKey(self.county, self.key_id, _b64(raw), self.not_before)

    def open(self, sealed: dict[str, Any], attributes: dict[str, Any]) -> bytes:
        try:
            return _SUITE.decrypt(_unb64(str(sealed["ct"])), self._key, info=record_info(attributes, self.key_id))
        except Exception:  # noqa: BLE001 - InvalidTag, bad base64, short input: all mean "does not open"
            raise SealError("unopenable", "sealed payload does not open with the receiving county's key") from None


def _signed_bytes(key: SealingPublicKey) -> bytes:
    return canonical({"purpose": "mpx-sealing-key", "key": key.to_dict()})


@dataclass(frozen=True)
class SealingKeyRecord:
    """A public sealing key on the keys topic, signed by a signing key of its county."""

    key: SealingPublicKey
    signed_by: str
    signature: str

    KIND = "sealing_key"

    @property
    def ident(self) -> tuple[str, str]:
        return self.key.county, self.key.key_id

    @property
    def kafka_key(self) -> str:
        return f"seal:{self.key.county}:{self.key.key_id}"

    def to_bytes(self) -> bytes:
        return orjson.dumps({"kind": self.KIND, "key": self.key.to_dict(), "signed_by": self.signed_by,
                             "signature": self.signature}, option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> SealingKeyRecord:
        """ValueError/KeyError/TypeError for anything that is not a sealing key record."""
        return cls(SealingPublicKey.from_dict(body["key"]), str(body["signed_by"]), str(body["signature"]))

    @classmethod
    def sign(cls, key: SealingPublicKey, signer: SigningKey) -> SealingKeyRecord:
        if signer.county != key.county:
            raise ValueError("a sealing key is signed by a signing key of its own county")
        return cls(key, signer.key_id, signer.sign(_signed_bytes(key)))


class SealingDirectory:
    """Sealing keys this node believes, and records waiting for the signing key that signed them.

    A record is believed when a signing key of its county that the node believes, valid and not revoked when the
    broker appended the record, signed it (the endorsement rules of signing keys, exchange.adapters.crypto.key_records);
    a key id is never rebound to another key."""

    def __init__(self, ring: KeyRing):
        self.ring = ring
        self.public: dict[tuple[str, str], SealingPublicKey] = {}
        self.pending: dict[tuple[str, str], tuple[SealingKeyRecord, datetime]] = {}

    def add(self, key: SealingPublicKey) -> None:
        self.public[(key.county, key.key_id)] = key

    def current(self, county: str) -> SealingPublicKey | None:
        """The county's newest sealing key: what senders seal to."""
        keys = [k for (c, _), k in self.public.items() if c == county]
        return max(keys, key=lambda k: k.not_before) if keys else None

    def offer(self, record: SealingKeyRecord | None = None, at: datetime | None = None) -> list[SealingPublicKey]:
        """Consider a record appended at `at` (None: retry the waiting ones, e.g. after new signing keys); returns
        keys believed now."""
        if record is not None and at is not None:
            self.pending[record.ident] = (record, at)
        accepted = []
        for ident, (waiting, appended) in list(self.pending.items()):
            verdict = self._check(waiting, appended)
            if verdict is None:
                continue
            del self.pending[ident]
            if verdict and ident not in self.public:
                self.add(waiting.key)
                accepted.append(waiting.key)
        return accepted

    def _check(self, record: SealingKeyRecord, at: datetime) -> bool | None:
        """True: believe it; False: refuse it; None: its signing key is not known yet."""
        known = self.public.get(record.ident)
        if known is not None:
            return known.public == record.key.public
        signer: PublicKey | None = self.ring.public.get((record.key.county, record.signed_by))
        if signer is None:
            return None
        if (signer.county, signer.key_id) in self.ring.revoked or not signer.valid_near(at, self.ring.skew):
            return False
        probe = KeyRing()
        probe.add_public(signer)
        try:
            probe.verify(signer.county, signer.key_id, record.signature, _signed_bytes(record.key), signer.not_before)
        except SignatureError:
            return False
        return True
