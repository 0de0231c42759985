"""Evidence bundles: one case's chain entries, signed by the node, checkable by a third party.

A bundle holds the entries of the case (the record, its receipt, its feedback),
each with its hash and the hash before it, the node's public key and an Ed25519
signature over the rest. `check_bundle` recomputes every entry hash and the
signature; the third party confirms the public key against the one the county
published (keys topic, or its own records).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.adapters.crypto.audit import entry_hash
from exchange.adapters.crypto.canonical import canonical
from exchange.adapters.crypto.evidence import entries
from exchange.adapters.crypto.signing import KeyRing, PublicKey, SignatureError, SigningKey
from exchange.adapters.sql.tables import messages
from exchange.domain.clock import utcnow


async def case_ids(engine: AsyncEngine, message_id: str) -> list[str]:
    """The record and every message about it (feedback, receipts)."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(messages.c.id).where(
            or_(messages.c.id == message_id, messages.c.in_reply_to == message_id)))
        return sorted({message_id, *(r.id for r in rows)})


def sign_bundle(body: dict[str, Any], key: SigningKey) -> bytes:
    body = {**body, "public_key": key.public_key().to_dict()}
    return orjson.dumps({**body, "signature": key.sign(canonical(body))}, option=orjson.OPT_INDENT_2)


async def export_bundle(engine: AsyncEngine, node_id: str, message_id: str, key: SigningKey) -> bytes:
    ids = await case_ids(engine, message_id)
    chain = await entries(engine, ids)
    body = {"node": node_id, "county": key.county, "message_id": message_id, "exported_at": utcnow().isoformat(),
            "entries": chain}
    return sign_bundle(body, key)


def check_bundle(raw: bytes) -> list[str]:
    """Problems found; empty when every entry hash and the signature hold."""
    bundle = orjson.loads(raw)
    problems = []
    for entry in bundle.get("entries", []):
        if entry_hash(entry["prev_hash"], entry) != entry["hash"]:
            problems.append(f"entry {entry['seq']} does not match its hash")
    signature = bundle.pop("signature", None)
    try:
        key = PublicKey.from_dict(bundle["public_key"])
        ring = KeyRing()
        ring.add_public(key)
        ring.verify(key.county, key.key_id, signature, canonical(bundle), key.not_before)
    except (SignatureError, KeyError, ValueError) as exc:
        problems.append(f"signature: {exc}")
    return problems


async def signing_key_for_case(engine: AsyncEngine, settings: Any, message_id: str) -> SigningKey:
    """The newest signing key of the served county the case belongs to (sender of a sent record, or receiver)."""
    from exchange.adapters.crypto.payload_crypto import PayloadCipher
    from exchange.adapters.crypto.trust import load_signing_keys

    async with engine.connect() as conn:
        row = (await conn.execute(select(messages.c.direction, messages.c.sender, messages.c.receiver)
                                  .where(messages.c.id == message_id))).first()
    if row is None:
        raise SystemExit(f"no message {message_id} on this node")
    county = row.sender if row.direction == "out" else row.receiver
    keys = (await load_signing_keys(engine, PayloadCipher.from_setting(settings.payload_keys), [county])).get(county)
    if not keys:
        raise SystemExit(f"no signing key for {county} on this node")
    return max(keys, key=lambda k: k.not_before)
