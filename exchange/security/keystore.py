"""API keys in the node's database: created by the CLI or an admin, checked on every request."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.security import apikeys
from exchange.security.principals import Principal, Role
from exchange.storage.tables import api_keys
from exchange.timeutil import utcnow


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    key: str  # shown once, never stored


class KeyStore:
    """Looks keys up by id; a short cache keeps the database off the hot path (revocation takes ≤ `ttl`)."""

    def __init__(self, engine: AsyncEngine, ttl: float = 5.0):
        self.engine = engine
        self.ttl = ttl
        self._cache: dict[str, tuple[float, object]] = {}

    async def create(self, *, name: str, role: Role, counties: frozenset[str] = frozenset(),
                     provinces: frozenset[str] = frozenset(), expires_at: datetime | None = None,
                     key: str | None = None) -> IssuedKey:
        """A new key; pass `key` to register one provisioned elsewhere (e.g. from the environment)."""
        if key is None:
            key_id, key, hashed = apikeys.new_key()
        else:
            parsed = apikeys.parse(key)
            if parsed is None:
                raise ValueError("not an mpx_<id>_<secret> key")
            key_id, hashed = parsed[0], apikeys.hash_secret(parsed[1])
        async with self.engine.begin() as conn:
            existing = await conn.scalar(select(api_keys.c.key_hash).where(api_keys.c.key_id == key_id))
            if existing is None:
                await conn.execute(insert(api_keys).values(
                    key_id=key_id, key_hash=hashed, name=name, role=role.value, counties=",".join(sorted(counties)),
                    provinces=",".join(sorted(provinces)), created_at=utcnow(), expires_at=expires_at))
            elif existing != hashed:
                raise ValueError(f"key id {key_id} exists with another secret")
        return IssuedKey(key_id, key)

    async def revoke(self, key_id: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(update(api_keys).where(api_keys.c.key_id == key_id,
                                                               api_keys.c.revoked_at.is_(None))
                                        .values(revoked_at=utcnow()))
        self._cache.pop(key_id, None)
        return result.rowcount > 0

    async def list(self) -> list[dict]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(api_keys).order_by(api_keys.c.created_at))).all()
        return [{"key_id": r.key_id, "name": r.name, "role": r.role, "counties": _split(r.counties),
                 "provinces": _split(r.provinces), "created_at": r.created_at.isoformat(),
                 "expires_at": r.expires_at.isoformat() if r.expires_at else None,
                 "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None} for r in rows]

    async def authenticate(self, key: str) -> Principal | None:
        parsed = apikeys.parse(key)
        if parsed is None:
            return None
        key_id, secret = parsed
        cached = self._cache.get(key_id)
        if cached is None or time.monotonic() - cached[0] > self.ttl:
            async with self.engine.connect() as conn:
                row = (await conn.execute(select(api_keys).where(api_keys.c.key_id == key_id))).first()
            cached = (time.monotonic(), row)
            self._cache[key_id] = cached
        row = cached[1]
        if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at <= utcnow()):
            return None
        if not apikeys.matches(secret, row.key_hash):
            return None
        return Principal(f"key:{key_id}", Role(row.role), frozenset(_split(row.counties)),
                         frozenset(p[:2] for p in _split(row.provinces)))


def _split(text: str) -> list[str]:
    return [part for part in text.split(",") if part]
