"""Ed25519 signatures of the sending county over envelope and payload.

Each county has key pairs with a key id and a validity period; during a
rotation the old and the new key overlap, so records signed just before the
switch still verify. Public keys are what every node needs; private keys stay
with the county's node.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat


class SignatureError(ValueError):
    """A record whose signature is missing, unknown, expired or wrong: quarantined, never stored."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class PublicKey:
    """A county's verifying key, as distributed to every node."""

    county: str
    key_id: str
    public: str  # raw Ed25519 public key, base64url
    not_before: datetime
    not_after: datetime | None = None
    use: str = "signing"  # contracts.control.KeyUse

    def valid_at(self, at: datetime) -> bool:
        return self.not_before <= at and (self.not_after is None or at <= self.not_after)

    def valid_near(self, at: datetime, skew: timedelta) -> bool:
        """Valid at some instant within `skew` of `at` (two clocks a little apart)."""
        return self.not_before <= at + skew and (self.not_after is None or at - skew <= self.not_after)

    @cached_property
    def verifier(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(_unb64(self.public))

    def check(self, signature: str, message: bytes) -> None:
        """Raise SignatureError(bad_signature) unless this key made `signature` over `message`."""
        try:
            self.verifier.verify(_unb64(signature), message)
        except (InvalidSignature, ValueError):
            raise SignatureError("bad_signature", "signature does not match the record") from None

    def to_dict(self) -> dict[str, Any]:
        return {"county": self.county, "key_id": self.key_id, "public": self.public,
                "not_before": self.not_before.isoformat(),
                "not_after": self.not_after.isoformat() if self.not_after else None, "use": self.use}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PublicKey:
        return cls(d["county"], d["key_id"], d["public"], datetime.fromisoformat(d["not_before"]),
                   datetime.fromisoformat(d["not_after"]) if d.get("not_after") else None, d.get("use", "signing"))


@dataclass(frozen=True)
class SigningKey:
    """A county's private key (stays on its node)."""

    county: str
    key_id: str
    private: str  # raw Ed25519 private key, base64url
    not_before: datetime
    not_after: datetime | None = None

    @classmethod
    def generate(cls, county: str, key_id: str, not_before: datetime, not_after: datetime | None = None) -> SigningKey:
        raw = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return cls(county, key_id, _b64(raw), not_before, not_after)

    @cached_property
    def _key(self) -> Ed25519PrivateKey:  # parsed once: signing is on every accepted message's path
        return Ed25519PrivateKey.from_private_bytes(_unb64(self.private))

    @cached_property
    def _public(self) -> PublicKey:
        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return PublicKey(self.county, self.key_id, _b64(raw), self.not_before, self.not_after)

    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, message: bytes) -> str:
        return _b64(self._key.sign(message))


@dataclass
class KeyRing:
    """Public keys of every county, and this node's own signing keys."""

    public: dict[tuple[str, str], PublicKey] = field(default_factory=dict)
    signing: dict[str, list[SigningKey]] = field(default_factory=dict)
    #: (county, key id) -> when its revocation was learned: nothing signed with it is believed any more.
    revoked: dict[tuple[str, str], datetime] = field(default_factory=dict)
    #: How far the clocks of signer and verifier may disagree (MPX_CLOCK_SKEW_SECONDS).
    skew: timedelta = timedelta(0)

    def add_public(self, key: PublicKey) -> None:
        self.public[(key.county, key.key_id)] = key

    def add_signing(self, key: SigningKey) -> None:
        self.signing.setdefault(key.county, []).append(key)
        self.add_public(key.public_key())

    def signer(self, county: str, at: datetime) -> SigningKey:
        """The newest key of the county valid at `at`."""
        valid = [k for k in self.signing.get(county, [])
                 if k.public_key().valid_at(at) and (county, k.key_id) not in self.revoked]
        if not valid:
            raise SignatureError("no_signing_key", f"no valid signing key for {county}")
        return max(valid, key=lambda k: k.not_before)

    def sign(self, county: str, message: bytes, at: datetime) -> tuple[str, str]:
        key = self.signer(county, at)
        return key.key_id, key.sign(message)

    def verify(self, county: str, key_id: str | None, signature: str | None, message: bytes, at: datetime) -> None:
        """Raise SignatureError unless `signature` is the county's, with a key valid at `at` and not revoked."""
        if not key_id or not signature:
            raise SignatureError("unsigned", "record carries no signature")
        key = self.public.get((county, key_id))
        if key is None:
            raise SignatureError("unknown_key", f"no public key {key_id} for {county}")
        if (county, key_id) in self.revoked:
            raise SignatureError("key_revoked", f"key {key_id} of {county} is revoked")
        if not key.valid_near(at, self.skew):
            raise SignatureError("key_not_valid", f"key {key_id} of {county} not valid at the record's time")
        key.check(signature, message)
