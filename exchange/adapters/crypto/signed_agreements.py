"""Cooperation agreements signed by a key the federation trusts for them.

Whoever can write to the agreements topic could otherwise change deadlines federation-wide. Each node is
configured with the agreements public keys the federation trusts (``MPX_AGREEMENT_KEYS``, the same everywhere)
and accepts from the topic only a `contracts.control.SignedAgreement` whose Ed25519 signature, over
``canonical({"purpose": "mpx-agreement", "agreement": …})``, one of them made. A node that publishes agreements
(admin API, ``MPX_AGREEMENTS_FILE``) signs them with ``MPX_AGREEMENT_SIGNING_KEY`` or refuses.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from pydantic import ValidationError

from contracts.control import AgreementBody, SignedAgreement
from exchange.adapters.crypto.canonical import canonical
from exchange.adapters.crypto.signing import PublicKey, SignatureError
from exchange.domain import Agreement, AgreementError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AgreementRefused(ValueError):
    """An agreement record that is malformed, unsigned, or signed by a key the federation does not trust."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _signed_bytes(body: Mapping[str, Any]) -> bytes:
    return canonical({"purpose": "mpx-agreement", "agreement": body})


def _pairs(setting: str) -> dict[str, str]:
    pairs = {}
    for item in (i.strip() for i in setting.split(",")):
        if item:
            key_id, _, value = item.partition(":")
            if not key_id or not value:
                raise ValueError("agreement keys are `key_id:base64url`, comma-separated")
            pairs[key_id] = value
    return pairs


def new_agreement_key(key_id: str) -> tuple[str, str]:
    """(MPX_AGREEMENT_SIGNING_KEY, the matching entry of MPX_AGREEMENT_KEYS) of a new Ed25519 key."""
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    raw_public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return f"{key_id}:{_b64(raw_private)}", f"{key_id}:{_b64(raw_public)}"


@dataclass
class AgreementKeys:
    trusted: dict[str, str] = field(default_factory=dict)  # key id -> raw public key, base64url
    signing: tuple[str, Ed25519PrivateKey] | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> AgreementKeys:
        return cls.parse(settings.agreement_keys, settings.agreement_signing_key.get_secret_value())

    @classmethod
    def parse(cls, trusted: str, signing: str = "") -> AgreementKeys:
        key = None
        if signing:
            [(key_id, private)] = _pairs(signing).items()
            raw = base64.urlsafe_b64decode(private + "=" * (-len(private) % 4))
            key = (key_id, Ed25519PrivateKey.from_private_bytes(raw))
        return cls(_pairs(trusted), key)

    def sign(self, agreement: Agreement) -> bytes:
        """The record the agreements topic carries; AgreementRefused(no_agreement_key) without a signing key."""
        if self.signing is None:
            raise AgreementRefused("no_agreement_key", "this node has no agreements signing key "
                                   "(MPX_AGREEMENT_SIGNING_KEY) / 本节点未配置协作协议签名密钥")
        key_id, private = self.signing
        body = _body(AgreementBody.model_validate(agreement.to_dict()))
        return orjson.dumps({"agreement": body, "key_id": key_id, "signature": _b64(private.sign(_signed_bytes(body)))},
                            option=orjson.OPT_SORT_KEYS)

    def verify(self, raw: bytes) -> Agreement:
        """The agreement a record carries, if a trusted key signed it; AgreementRefused otherwise."""
        try:
            signed = SignedAgreement.model_validate(orjson.loads(raw))
        except (ValueError, ValidationError) as exc:
            raise AgreementRefused("malformed", f"not a signed agreement ({type(exc).__name__})") from None
        public = self.trusted.get(signed.key_id)
        if public is None:
            raise AgreementRefused("untrusted_key", f"agreement key {signed.key_id} is not trusted here")
        body = _body(signed.agreement)
        try:
            PublicKey("", signed.key_id, public, _EPOCH).check(signed.signature, _signed_bytes(body))
        except (SignatureError, ValueError):
            raise AgreementRefused("bad_signature", "agreement signature does not verify") from None
        try:
            return Agreement.from_dict(body)
        except AgreementError as exc:
            raise AgreementRefused("invalid_agreement", str(exc)) from None


def _body(agreement: AgreementBody) -> dict:
    """The signed body; without verification deadlines it is the body as signed before they existed, so the
    signatures of those agreements still verify."""
    body = agreement.model_dump(mode="json")
    if not body["verification_deadlines"]:
        del body["verification_deadlines"]
    return body


def load_signed_agreements(path: str | Path, keys: AgreementKeys) -> list[Agreement]:
    """Agreements from a JSON file (a list, or ``{"agreements": [...]}``): each signed (checked against the
    trusted keys) or plain (signed here, so this node's key must be configured, and trusted). Raises
    AgreementRefused for the first that is not."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = data.get("agreements", []) if isinstance(data, Mapping) else data
    result = []
    for row in rows:
        raw = orjson.dumps(row)
        if not (isinstance(row, Mapping) and "signature" in row):
            try:
                raw = keys.sign(Agreement.from_dict(row))
            except AgreementError as exc:
                raise AgreementRefused("invalid_agreement", str(exc)) from None
        result.append(keys.verify(raw))
    return result


