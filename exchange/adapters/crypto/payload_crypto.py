"""Payloads encrypted at rest (AES-256-GCM), so a copied database file reveals no person.

Stored form: ``enc:<key id>:<base64url(nonce || ciphertext+tag)>``. The message id
is the associated data, so a ciphertext moved to another row does not decrypt.
Rotation: add a new key and make it current; old keys stay for decryption until
`mpx` re-encryption has run (see README, security).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

PREFIX = "enc:"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key() -> str:
    return _b64(AESGCM.generate_key(bit_length=256))


@dataclass(frozen=True)
class PayloadCipher:
    """Keys by id; `current` encrypts, any decrypts. No keys: plaintext (development only)."""

    keys: dict[str, bytes]
    current: str | None

    @classmethod
    def from_setting(cls, setting: str | SecretStr) -> PayloadCipher:
        """`id1:key1,id2:key2` — the first is current (MPX_PAYLOAD_KEYS, a secret)."""
        if isinstance(setting, SecretStr):
            setting = setting.get_secret_value()
        pairs = [part.split(":", 1) for part in setting.split(",") if part.strip()]
        keys = {kid.strip(): _unb64(key.strip()) for kid, key in pairs}
        for kid, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"payload key {kid} is not 256 bits")
        return cls(keys, pairs[0][0].strip() if pairs else None)

    def seal(self, plaintext: str, message_id: str) -> str:
        if self.current is None:
            return plaintext
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext.encode(), message_id.encode())
        return f"{PREFIX}{self.current}:{_b64(nonce + sealed)}"

    def open(self, stored: str, message_id: str) -> str:
        if not stored.startswith(PREFIX):
            return stored
        kid, blob = stored[len(PREFIX):].split(":", 1)
        raw = _unb64(blob)
        return AESGCM(self._key(kid)).decrypt(raw[:12], raw[12:], message_id.encode()).decode()

    # Bytes (Kafka record values kept in the outbox and in quarantine): the same stored form, ASCII-encoded.

    def seal_bytes(self, plaintext: bytes, context: str) -> bytes:
        if self.current is None:
            return plaintext
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext, context.encode())
        return f"{PREFIX}{self.current}:{_b64(nonce + sealed)}".encode()

    def open_bytes(self, stored: bytes, context: str) -> bytes:
        if not stored.startswith(PREFIX.encode()):
            return stored
        kid, blob = stored[len(PREFIX):].decode("ascii").split(":", 1)
        raw = _unb64(blob)
        return AESGCM(self._key(kid)).decrypt(raw[:12], raw[12:], context.encode())

    def sealed_with(self, stored: str | bytes) -> str | None:
        """The id of the key a stored value is sealed with; None when it is in clear."""
        text = stored.decode("ascii", errors="replace") if isinstance(stored, bytes) else stored
        if not text.startswith(PREFIX):
            return None
        return text[len(PREFIX):].split(":", 1)[0]

    def needs_reseal(self, stored: str | bytes) -> bool:
        """Whether re-encryption would change the value: in clear, or sealed with another key than the current."""
        return self.current is not None and self.sealed_with(stored) != self.current

    def _key(self, kid: str) -> bytes:
        try:
            return self.keys[kid]
        except KeyError:
            raise PayloadKeyMissing(kid) from None


class PayloadKeyMissing(KeyError):
    """A stored value is sealed with a key that MPX_PAYLOAD_KEYS no longer (or not yet) lists."""

    def __str__(self) -> str:
        return f"payload key {self.args[0]!r} is not configured (MPX_PAYLOAD_KEYS)"
