"""Appending to the evidence chain inside the transactions whose effects it records.

The chain is one sequence per node, so appends are serialized: on PostgreSQL by
a transaction-scoped advisory lock (replicas of a node share the chain); on
SQLite by the database's single writer (the caller's transaction has written
before it appends, so it already holds the write lock).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from exchange.security.audit import GENESIS, entry_hash, verify_chain
from exchange.storage.tables import audit_log

_LOCK = 0x6D7078  # "mpx"


async def append(conn: AsyncConnection, event: str, *, at: datetime, message_id: str | None = None,
                 county: str | None = None, principal: str | None = None,
                 detail: dict[str, Any] | None = None) -> None:
    await append_many(conn, [{"event": event, "message_id": message_id, "county": county, "principal": principal,
                              "detail": detail}], at=at)


async def append_many(conn: AsyncConnection, events: list[dict[str, Any]], *, at: datetime) -> None:
    """Chain `events` (dicts of event, message_id, county, principal, detail) after the last entry."""
    if not events:
        return
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    last = (await conn.execute(select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc())
                               .limit(1))).first()
    seq, previous = (last.seq, last.hash) if last else (0, GENESIS)
    rows = []
    for event in events:
        seq += 1
        detail = event.get("detail")
        entry = {"seq": seq, "at": at.isoformat(), "event": event["event"], "message_id": event.get("message_id"),
                 "county": event.get("county"), "principal": event.get("principal"),
                 "detail": orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode() if detail else None}
        previous = entry_hash(previous, entry)
        rows.append({**entry, "at": at, "prev_hash": rows[-1]["hash"] if rows else (last.hash if last else GENESIS),
                     "hash": previous})
    await conn.execute(insert(audit_log), rows)


async def append_alone(engine: AsyncEngine, event: str, **fields: Any) -> None:
    """An entry with no other effect (a refused request), in a transaction of its own."""
    async with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.execute(text("UPDATE audit_log SET seq = seq WHERE 0"))  # take the write lock first
        await append(conn, event, **fields)


def _as_entry(row: Any) -> dict[str, Any]:
    return {"seq": row.seq, "at": row.at.isoformat(), "event": row.event, "message_id": row.message_id,
            "county": row.county, "principal": row.principal, "detail": row.detail, "prev_hash": row.prev_hash,
            "hash": row.hash}


async def entries(engine: AsyncEngine, message_ids: list[str] | None = None) -> list[dict[str, Any]]:
    query = select(audit_log).order_by(audit_log.c.seq)
    if message_ids is not None:
        query = query.where(audit_log.c.message_id.in_(message_ids))
    async with engine.connect() as conn:
        return [_as_entry(r) for r in await conn.execute(query)]


async def verify(engine: AsyncEngine) -> tuple[int, int | None]:
    """(entries checked, seq of the first broken entry or None)."""
    chain = await entries(engine)
    return len(chain), verify_chain(chain)
